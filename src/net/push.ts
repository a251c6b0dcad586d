import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { idToText } from '../store/id.ts';
import type { Cluster } from './cluster-file.ts';
import { verifyEd25519 } from './identity.ts';
import {
  MAX_REPLY, MAX_REQUEST, type PushOutcome, PushRefused, type PushRequest, acceptedFrame, parsePush, parseReply, progressFrame, refusedFrame,
} from './push-message.ts';

/** docs/blocks-protocol.md, "Push". */
export const PUSH_PROTOCOL = '/crisscross/push/1.0.0';
/** A receiver refuses an expiry further ahead than this: it bounds how long nonces are remembered. */
export const MAX_EXPIRY_AHEAD_MS = 5 * 60_000;
/** A receiver busy cloning says how far it got this often, so the pusher's wait never idles out. */
const PROGRESS_EVERY_MS = 10_000;
/** The pusher gives up on a receiver silent this long. */
const SILENT_MS = 60_000;
/** Pushes one node clones at once; more are refused BUSY. */
const MAX_IN_FLIGHT = 2;
/** Nonces remembered at most (each until its request expires); beyond, pushes are refused BUSY. */
const MAX_NONCES = 100_000;

/** What an admitted push does: fetch, pin and announce the tree. */
export interface PushReceiver {
  /**
   * Clones `request.root`, from `from` and other providers, counting the bytes it fetches in
   * `progress.bytes`. Throws PushRefused to refuse it (OVERSIZE), anything else means FAILED.
   */
  receive(request: PushRequest, from: PeerId, progress: { bytes: number }, signal: AbortSignal): Promise<{ bytes: number }>;
}

export interface PushServiceInit {
  cluster: Cluster;
  logger: Logger;
  /** Absent: every admitted push is refused FAILED (a node that cannot store). */
  receiver?: PushReceiver;
}

export interface PushServiceComponents {
  registrar: Registrar;
  connectionManager: ConnectionManager;
}

/**
 * The push protocol of one cluster node, as a libp2p service: sends signed push requests and
 * admits incoming ones. A receiver checks the signature against the cluster's PublicKey, the
 * expiry, the nonce (each remembered until its request expires), MaxTTL and MaxAcceptedSize
 * before it fetches anything; the receiver's transfer enforces the stated size while blocks
 * arrive. The limit is per push, not a quota: each push is judged alone.
 */
export class PushService {
  private readonly components: PushServiceComponents;
  private readonly init: PushServiceInit;
  private readonly nonces = new Map<string, number>();
  private readonly stopping = new AbortController();
  private inFlight = 0;
  accepted = 0;
  refused = 0;

  constructor(components: PushServiceComponents, init: PushServiceInit) {
    this.components = components;
    this.init = init;
  }

  readonly [Symbol.toStringTag] = 'crisscross/push';

  async start(): Promise<void> {
    await this.components.registrar.handle(PUSH_PROTOCOL, (stream, connection) => this.serve(stream, connection), { maxInboundStreams: 4, maxOutboundStreams: 16 });
  }

  async stop(): Promise<void> {
    this.stopping.abort(new CrissError('CLOSED', 'the cluster node is stopping'));
    await this.components.registrar.unhandle(PUSH_PROTOCOL);
  }

  /** Sends one REQUEST frame to `peer` and waits for its verdict. */
  async send(peer: PeerId, frame: Uint8Array, signal: AbortSignal): Promise<PushOutcome> {
    let stream: Stream | undefined;
    try {
      stream = await this.components.connectionManager.openStream(peer, PUSH_PROTOCOL, { signal });
      const lp = lpStream(stream, { maxDataLength: MAX_REPLY });
      await lp.write(frame, { signal });
      for (;;) {
        const verdict = parseReply((await lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(SILENT_MS)]) })).subarray());
        if (verdict === undefined) continue;
        await stream.close({ signal }).catch(() => undefined);
        return verdict;
      }
    } catch (err) {
      stream?.abort(err as Error);
      return { accepted: false, reason: 'UNREACHABLE', message: (err as Error).message };
    }
  }

  /** Why a well-formed request must be refused before any transfer, or undefined to admit it. */
  private admit(request: PushRequest, body: Buffer, signature: Buffer, now: number): PushRefused | undefined {
    const c = this.init.cluster;
    if (!verifyEd25519(c.publicKey, body, signature)) return new PushRefused('BADSIG', 'the signature is not the cluster key\'s');
    if (request.cluster !== c.name) return new PushRefused('WRONGCLUSTER', 'the request was signed for another cluster');
    if (request.expiresAt <= now) return new PushRefused('EXPIRED', 'the request has expired');
    if (request.expiresAt > now + MAX_EXPIRY_AHEAD_MS) return new PushRefused('EXPIRED', `the request expires more than ${MAX_EXPIRY_AHEAD_MS} ms ahead`);
    for (const [n, until] of this.nonces) if (until <= now) this.nonces.delete(n);
    const nonce = request.nonce.toString('hex');
    if (this.nonces.has(nonce)) return new PushRefused('REPLAY', 'this request was received before');
    if (this.nonces.size >= MAX_NONCES) return new PushRefused('BUSY', 'too many recent pushes');
    // Remembered whatever follows: the same signed request is never judged twice.
    this.nonces.set(nonce, request.expiresAt);
    if (c.maxAcceptedSize === 0) return new PushRefused('DISABLED', 'this node accepts no pushes (MaxAcceptedSize 0)');
    if (request.ttlMs > c.maxTtlMs) return new PushRefused('TTL', `ttl ${request.ttlMs} ms is over MaxTTL ${c.maxTtlMs} ms`);
    if (request.size > c.maxAcceptedSize) return new PushRefused('TOOLARGE', `${request.size} bytes is over MaxAcceptedSize ${c.maxAcceptedSize}`);
    if (this.inFlight >= MAX_IN_FLIGHT) return new PushRefused('BUSY', 'too many pushes in progress');
    return undefined;
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer;
    const log = this.init.logger.child({ from: from.toString() });
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST });
    let writing: Promise<unknown> = Promise.resolve();
    const write = (f: Uint8Array): Promise<unknown> => (writing = writing.then(() => lp.write(f, { signal: AbortSignal.timeout(SILENT_MS) })));
    try {
      const frame = (await lp.read({ signal: AbortSignal.timeout(SILENT_MS) })).subarray();
      let parsed: ReturnType<typeof parsePush> | undefined;
      let refusal: PushRefused | undefined;
      try {
        parsed = parsePush(frame);
        refusal = this.admit(parsed.request, parsed.body, parsed.signature, Date.now());
      } catch (err) {
        refusal = err instanceof PushRefused ? err : new PushRefused('MALFORMED', (err as Error).message);
      }
      if (refusal === undefined && parsed !== undefined) await this.run(parsed.request, from, log, write);
      else await this.refuse(refusal as PushRefused, parsed?.request, log, write);
      await writing;
      await stream.close({ signal: AbortSignal.timeout(SILENT_MS) });
    } catch (err) {
      log.info({ err: (err as Error).message }, 'push stream ended');
      stream.abort(err as Error);
    }
  }

  private async refuse(r: PushRefused, request: PushRequest | undefined, log: Logger, write: (f: Uint8Array) => Promise<unknown>): Promise<void> {
    this.refused++;
    log.info({ ...(request ? { root: idToText(request.root), size: request.size, ttl: request.ttlMs } : {}), reason: r.reason, err: r.message }, 'push refused');
    await write(refusedFrame(r.reason, r.message));
  }

  private async run(request: PushRequest, from: PeerId, log: Logger, write: (f: Uint8Array) => Promise<unknown>): Promise<void> {
    const root = idToText(request.root);
    const receiver = this.init.receiver;
    if (receiver === undefined) return this.refuse(new PushRefused('FAILED', 'this node cannot store'), request, log, write);
    this.inFlight++;
    const progress = { bytes: 0 };
    const timer = setInterval(() => void write(progressFrame(progress.bytes)).catch(() => undefined), PROGRESS_EVERY_MS);
    try {
      log.info({ root, size: request.size, ttl: request.ttlMs }, 'push admitted; fetching');
      const r = await receiver.receive(request, from, progress, this.stopping.signal);
      this.accepted++;
      log.info({ root, bytes: r.bytes, ttl: request.ttlMs }, 'push accepted');
      await write(acceptedFrame(r.bytes));
    } catch (err) {
      const r = err instanceof PushRefused ? err : new PushRefused('FAILED', (err as Error).message);
      await this.refuse(r, request, log.child({ fetched: progress.bytes }), write);
    } finally {
      clearInterval(timer);
      this.inFlight--;
    }
  }
}

/** As a libp2p `services` entry. */
export function pushService(init: PushServiceInit): (components: PushServiceComponents) => PushService {
  return (components) => new PushService(components, init);
}
