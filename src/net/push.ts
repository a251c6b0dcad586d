import { randomBytes } from 'node:crypto';
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { ID_BYTES, type Id, idToText } from '../store/id.ts';
import type { Cluster } from './cluster-file.ts';
import { SIGNATURE_BYTES, framed, signEd25519, verifyEd25519 } from './identity.ts';

/** docs/blocks-protocol.md, "Push". */
export const PUSH_PROTOCOL = '/crisscross/push/1.0.0';
export const TAG_PUSH = 'crisscross/push/v1';
/** How long a request a pusher signs stays valid. */
export const PUSH_VALID_MS = 2 * 60_000;
/** A receiver refuses an expiry further ahead than this: it bounds how long nonces are remembered. */
export const MAX_EXPIRY_AHEAD_MS = 5 * 60_000;
export const NONCE_BYTES = 16;
const MAX_NAME_BYTES = 64;
const U64_BYTES = 8;
const REQUEST = 0x01;
const PROGRESS = 0x02;
const ACCEPTED = 0x03;
const REFUSED = 0x04;
const TAG_BYTES = Buffer.byteLength(TAG_PUSH);
const MAX_REQUEST = 1 + 7 * 4 + TAG_BYTES + MAX_NAME_BYTES + ID_BYTES + 3 * U64_BYTES + NONCE_BYTES + SIGNATURE_BYTES;
const MAX_MESSAGE_BYTES = 200;
const MAX_REPLY = 2 + MAX_MESSAGE_BYTES;
/** A receiver busy cloning says how far it got this often, so the pusher's wait never idles out. */
const PROGRESS_EVERY_MS = 10_000;
/** The pusher gives up on a receiver silent this long. */
const SILENT_MS = 60_000;
/** Pushes one node clones at once; more are refused BUSY. */
const MAX_IN_FLIGHT = 2;
/** Nonces remembered at most (each until its request expires); beyond, pushes are refused BUSY. */
const MAX_NONCES = 100_000;

/** Why a receiver refused a push: the code on the wire (docs/blocks-protocol.md). */
export const REFUSALS = {
  MALFORMED: 1,
  BADSIG: 2,
  EXPIRED: 3,
  REPLAY: 4,
  WRONGCLUSTER: 5,
  DISABLED: 6,
  TTL: 7,
  TOOLARGE: 8,
  OVERSIZE: 9,
  FAILED: 10,
  BUSY: 11,
} as const;
export type Refusal = keyof typeof REFUSALS;
const REFUSAL_OF = new Map<number, Refusal>((Object.entries(REFUSALS) as Array<[Refusal, number]>).map(([k, v]) => [v, k]));

/** What a pusher asks: store `root` for `ttlMs`; it states the tree's size, which it signs. */
export interface PushRequest {
  cluster: string;
  root: Id;
  ttlMs: number;
  /** Bytes of every distinct block the root reaches, links included. */
  size: number;
  nonce: Buffer;
  /** Epoch ms after which the request is void. */
  expiresAt: number;
}

export type PushOutcome =
  | { accepted: true; bytes: number }
  | { accepted: false; reason: Refusal | 'UNREACHABLE'; message: string };

/** A receiver's refusal, from admission or from the transfer (OVERSIZE). */
export class PushRefused extends CrissError {
  readonly reason: Refusal;

  constructor(reason: Refusal, message: string) {
    super('ERR', message);
    this.name = 'PushRefused';
    this.reason = reason;
  }
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(U64_BYTES);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function readU64(b: Uint8Array, what: string): number {
  const n = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64BE();
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new PushRefused('MALFORMED', `${what} is out of range`);
  return Number(n);
}

export function newPushRequest(cluster: string, root: Id, ttlMs: number, size: number, now = Date.now()): PushRequest {
  return { cluster, root, ttlMs, size, nonce: randomBytes(NONCE_BYTES), expiresAt: now + PUSH_VALID_MS };
}

/** The signed bytes: framed(TAG_PUSH, Name, root, ttl, size, nonce, expiry), docs/blocks-protocol.md. */
export function pushBody(r: PushRequest): Buffer {
  return framed(TAG_PUSH, Buffer.from(r.cluster, 'utf8'), r.root, u64(r.ttlMs), u64(r.size), r.nonce, u64(r.expiresAt));
}

/** A REQUEST frame: the body as signed, then its signature. */
export function requestFrame(body: Uint8Array, signature: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(REQUEST), body, signature]);
}

export function signPush(r: PushRequest, privateKey: Uint8Array): Buffer {
  const body = pushBody(r);
  return requestFrame(body, signEd25519(privateKey, body));
}

const FIELD_BYTES = [undefined, ID_BYTES, U64_BYTES, U64_BYTES, NONCE_BYTES, U64_BYTES];

/** A REQUEST frame's request, signed body and signature; PushRefused MALFORMED if it breaks the layout. */
export function parsePush(frame: Uint8Array): { request: PushRequest; body: Buffer; signature: Buffer } {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b.length < 1 + SIGNATURE_BYTES || b[0] !== REQUEST) throw new PushRefused('MALFORMED', 'not a push request');
  const body = b.subarray(1, b.length - SIGNATURE_BYTES);
  const fields: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 4) throw new PushRefused('MALFORMED', 'truncated field length');
    const len = body.readUInt32BE(at);
    if (len > body.length - at - 4) throw new PushRefused('MALFORMED', 'truncated field');
    fields.push(body.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (fields.length !== 7 || fields[0].toString('utf8') !== TAG_PUSH) throw new PushRefused('MALFORMED', 'not a push request of this version');
  const [name, root, ttl, size, nonce, expiry] = fields.slice(1);
  FIELD_BYTES.forEach((n, i) => {
    if (n !== undefined && fields[i + 1].length !== n) throw new PushRefused('MALFORMED', `field ${i + 1} is not ${n} bytes`);
  });
  if (name.length === 0 || name.length > MAX_NAME_BYTES) throw new PushRefused('MALFORMED', 'bad cluster name');
  const request: PushRequest = {
    cluster: name.toString('utf8'),
    root: Buffer.from(root),
    ttlMs: readU64(ttl, 'ttl'),
    size: readU64(size, 'size'),
    nonce: Buffer.from(nonce),
    expiresAt: readU64(expiry, 'expiry'),
  };
  if (request.ttlMs === 0) throw new PushRefused('MALFORMED', 'ttl must be at least 1 ms');
  return { request, body, signature: b.subarray(b.length - SIGNATURE_BYTES) };
}

function refusedFrame(reason: Refusal, message: string): Buffer {
  return Buffer.concat([Buffer.of(REFUSED, REFUSALS[reason]), Buffer.from(message, 'utf8').subarray(0, MAX_MESSAGE_BYTES)]);
}

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
        const f = (await lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(SILENT_MS)]) })).subarray();
        if (f[0] === PROGRESS && f.length === 1 + U64_BYTES) continue;
        await stream.close({ signal }).catch(() => undefined);
        if (f[0] === ACCEPTED && f.length === 1 + U64_BYTES) return { accepted: true, bytes: readU64(f.subarray(1), 'bytes') };
        const reason = f[0] === REFUSED && f.length >= 2 ? REFUSAL_OF.get(f[1]) : undefined;
        if (reason === undefined) throw new Error('malformed reply');
        return { accepted: false, reason, message: Buffer.from(f.subarray(2)).toString('utf8') };
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
    const timer = setInterval(() => void write(Buffer.concat([Buffer.of(PROGRESS), u64(progress.bytes)])).catch(() => undefined), PROGRESS_EVERY_MS);
    try {
      log.info({ root, size: request.size, ttl: request.ttlMs }, 'push admitted; fetching');
      const r = await receiver.receive(request, from, progress, this.stopping.signal);
      this.accepted++;
      log.info({ root, bytes: r.bytes, ttl: request.ttlMs }, 'push accepted');
      await write(Buffer.concat([Buffer.of(ACCEPTED), u64(r.bytes)]));
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
