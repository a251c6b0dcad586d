import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Connection, ContentRouting, Libp2pEvents, PeerId, Stream, TypedEventTarget } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { CrissError, type ErrorCode } from '../errors.ts';
import { type KeyPair, keyName, keyText, signEd25519, verifyEd25519 } from './identity.ts';
import type { AllowList } from './tunnel-allow.ts';
import { type Pipe, type PipeCounters, pipe } from './tunnel-pipe.ts';
import {
  CHALLENGE_BYTES, MAX_HANDSHAKE_FRAME, type Hello, type Mode, type Result, type ResultCode, TUNNEL_PROTOCOL, decodeAuth, decodeHello, decodeProof,
  decodeResult, encodeAuth, encodeHello, encodeProof, encodeResult, nameBytes, proofMessage, tunnelCid,
} from './tunnel-wire.ts';

export interface TunnelServiceInit {
  cluster: string;
  allow: AllowList;
  /** The key pair of a Name from the keys dir, if there is one. */
  keyOf(name: string): Promise<KeyPair | undefined>;
  logger: Logger;
  idleMs?: number;
}

export interface TunnelServiceComponents {
  registrar: Registrar;
  connectionManager: ConnectionManager;
  contentRouting: ContentRouting;
  peerId: PeerId;
  events: TypedEventTarget<Libp2pEvents>;
}

export const DEFAULT_IDLE_MS = 10 * 60_000;
const HANDSHAKE_MS = 10_000;
const CONNECT_MS = 10_000;
const PROVIDE_MS = 30_000;
const REPROVIDE_MIN_MS = 30_000;
const MAX_STREAMS = 1024;

const CODES: Record<Exclude<ResultCode, 'ok'>, ErrorCode> = {
  refused: 'REFUSED', notallowed: 'NOTALLOWED', limit: 'LIMIT', unreachable: 'UNREACHABLE', nokey: 'NOKEY',
};
const TEXT: Record<Exclude<ResultCode, 'ok'>, string> = {
  refused: 'the serving peer refused the tunnel',
  notallowed: 'that host and port are not allowed for this tunnel',
  limit: 'the tunnel is at its connection limit',
  unreachable: 'the serving peer cannot reach that host and port',
  nokey: 'the peer does not hold the key',
};

function peerBytes(p: PeerId): Uint8Array {
  return p.toMultihash().bytes;
}

/** The refusal a serving peer answered, as the error TUNNELOPEN and the logs show. */
function refusal(r: Result): CrissError {
  const code = r.code === 'ok' ? 'refused' : r.code;
  return new CrissError(CODES[code], r.message === '' ? TEXT[code] : `${TEXT[code]}: ${r.message}`);
}

/**
 * Tunnels of one cluster node (docs/tunnel-protocol.md), as a libp2p service. Serving: it
 * proves the key of every Name this cluster announces, checks the allow-list and passphrase of
 * each new stream, connects on and carries the bytes. Using: `connect` finds the Name's
 * providers, takes the first that proves the key, and returns the stream once it accepted.
 */
export class TunnelService {
  private readonly components: TunnelServiceComponents;
  private readonly init: TunnelServiceInit;
  private readonly idleMs: number;
  private readonly stopping = new AbortController();
  private readonly good = new Map<string, PeerId>();
  private readonly served = new Set<() => void>();
  private lastProvide = 0;
  private readonly onPeer = (): void => {
    if (Date.now() - this.lastProvide < REPROVIDE_MIN_MS) return;
    this.lastProvide = Date.now();
    for (const name of this.init.allow.announcedIn(this.init.cluster)) void this.provide(name);
  };
  readonly counters: PipeCounters & { active: number; total: number; refused: number } = { received: 0, sent: 0, active: 0, total: 0, refused: 0 };

  constructor(components: TunnelServiceComponents, init: TunnelServiceInit) {
    this.components = components;
    this.init = init;
    this.idleMs = init.idleMs ?? DEFAULT_IDLE_MS;
  }

  readonly [Symbol.toStringTag] = 'crisscross/tunnels';

  async start(): Promise<void> {
    await this.components.registrar.handle(TUNNEL_PROTOCOL, (stream, connection) => this.serve(stream, connection), {
      maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS,
    });
    this.components.events.addEventListener('peer:connect', this.onPeer);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.components.events.removeEventListener('peer:connect', this.onPeer);
    await this.components.registrar.unhandle(TUNNEL_PROTOCOL);
    for (const cut of this.served) cut();
  }

  /** Provides the Name on the cluster's DHT; alone in the cluster it is provided again as peers come. */
  async provide(name: string): Promise<void> {
    try {
      await this.components.contentRouting.provide(tunnelCid(nameBytes(name)), { signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(PROVIDE_MS)]) });
    } catch (err) {
      this.init.logger.info({ name, err: (err as Error).message }, 'providing a tunnel failed; retried when a peer connects');
    }
  }

  /**
   * A stream to `host:port` behind a peer that proved the key of `name` and accepted the
   * passphrase (in `check` mode the peer only answers whether it would). Providers that fail
   * the proof are skipped; a refusal from one that passed it ends the search.
   */
  async connect(name: string, passphrase: string, host: string, port: number, mode: Mode, signal: AbortSignal): Promise<Stream> {
    const nameB = nameBytes(name);
    const tried = new Set<string>([this.components.peerId.toString()]);
    const known = this.good.get(name);
    const attempt = async (peer: PeerId): Promise<Stream | undefined> => {
      tried.add(peer.toString());
      const stream = await this.handshake(peer, { mode, name: nameB, challenge: randomBytes(CHALLENGE_BYTES), host, port }, passphrase, signal);
      if (stream !== undefined) this.good.set(name, peer);
      else if (this.good.get(name)?.equals(peer) === true) this.good.delete(name);
      return stream;
    };
    if (known !== undefined) {
      const s = await attempt(known);
      if (s !== undefined) return s;
    }
    try {
      for await (const p of this.components.contentRouting.findProviders(tunnelCid(nameB), { signal })) {
        if (tried.has(p.id.toString())) continue;
        const s = await attempt(p.id);
        if (s !== undefined) return s;
      }
    } catch (err) {
      if (!signal.aborted) throw err;
      throw new CrissError('NOPROVIDER', `no peer of the cluster proved the key of tunnel ${name} in time`);
    }
    throw new CrissError('NOPROVIDER', `no peer of the cluster proved the key of tunnel ${name}`);
  }

  /** undefined: this peer is no server of the Name (unreachable, no key, a failed proof). */
  private async handshake(peer: PeerId, hello: Hello, passphrase: string, outer: AbortSignal): Promise<Stream | undefined> {
    const signal = AbortSignal.any([outer, AbortSignal.timeout(HANDSHAKE_MS)]);
    let stream: Stream;
    try {
      stream = await this.components.connectionManager.openStream(peer, TUNNEL_PROTOCOL, { signal });
    } catch (err) {
      if (outer.aborted) throw err;
      this.init.logger.info({ remote: peer.toString(), err: (err as Error).message }, 'tunnel provider unreachable');
      return undefined;
    }
    let result: Result;
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_FRAME });
      await lp.write(encodeHello(hello), { signal });
      const proof = decodeProof((await lp.read({ signal })).subarray());
      if ('code' in proof) {
        stream.abort(new Error('no key'));
        return undefined;
      }
      const message = proofMessage(hello, peerBytes(this.components.peerId), peerBytes(peer));
      if (keyName(proof.publicKey) !== keyText(hello.name) || !verifyEd25519(proof.publicKey, message, proof.signature)) {
        this.init.logger.info({ remote: peer.toString(), name: keyText(hello.name) }, 'tunnel provider failed to prove the key; skipped');
        stream.abort(new Error('bad proof'));
        return undefined;
      }
      await lp.write(encodeAuth(passphrase), { signal });
      result = decodeResult((await lp.read({ signal })).subarray());
      if (result.code === 'ok') {
        if (hello.mode === 'check') {
          stream.abort(new Error('checked'));
          return stream;
        }
        return lp.unwrap();
      }
    } catch (err) {
      stream.abort(err as Error);
      if (outer.aborted) throw err;
      this.init.logger.info({ remote: peer.toString(), err: (err as Error).message }, 'tunnel handshake failed');
      return undefined;
    }
    stream.abort(new Error(result.code));
    throw refusal(result);
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString();
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(HANDSHAKE_MS)]);
    const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_FRAME });
    let hello: Hello | undefined;
    const refuse = async (code: Exclude<ResultCode, 'ok'>, reason: string, message = ''): Promise<void> => {
      this.counters.refused++;
      const target = hello === undefined ? undefined : `${hello.host}:${hello.port}`;
      this.init.logger.info({ cluster: this.init.cluster, remote, name: hello === undefined ? undefined : keyText(hello.name), target, reason }, 'tunnel refused');
      await lp.write(encodeResult({ code, message }), { signal });
      await stream.close({ signal });
    };
    try {
      hello = decodeHello((await lp.read({ signal })).subarray());
      const name = keyText(hello.name);
      const kp = this.init.allow.announcedIn(this.init.cluster).includes(name) ? await this.init.keyOf(name) : undefined;
      if (kp === undefined) return await refuse('nokey', 'Name not announced here or its key is not in the keys dir');
      await lp.write(encodeProof(kp.publicKey, signEd25519(kp.privateKey, proofMessage(hello, peerBytes(connection.remotePeer), peerBytes(this.components.peerId)))), { signal });
      const passphrase = decodeAuth((await lp.read({ signal })).subarray());
      const verdict = await this.init.allow.check(this.init.cluster, name, hello.host, hello.port, passphrase);
      // A client that knew no passphrase of the Name learns nothing about the allow-list.
      if (verdict.code === 'refused') return await refuse('refused', 'no entry of the Name has that passphrase');
      if (verdict.code === 'notallowed') return await refuse('notallowed', 'target not allowed', `${hello.host}:${hello.port}`);
      if (hello.mode === 'check') {
        await lp.write(encodeResult({ code: 'ok', message: '' }), { signal });
        return await stream.close({ signal });
      }
      let p: Pipe | undefined;
      let disallowed = false;
      const release = this.init.allow.lease(verdict.entry, () => {
        disallowed = true;
        p?.cut('tunnel disallowed');
      });
      if (release === undefined) return await refuse('limit', 'connection limit', String(verdict.entry.maxConnections));
      try {
        let socket: Socket;
        try {
          socket = await dial(hello.host, hello.port, signal);
        } catch (err) {
          return await refuse('unreachable', (err as Error).message);
        }
        // The entry may have gone while connecting: its cut had nothing to cut yet.
        if (disallowed) {
          socket.destroy();
          return await refuse('refused', 'entry removed while connecting');
        }
        await lp.write(encodeResult({ code: 'ok', message: '' }), { signal });
        const piped = pipe(socket, lp.unwrap(), this.counters, this.idleMs);
        p = piped;
        if (disallowed) piped.cut('tunnel disallowed');
        const cut = (): void => piped.cut('daemon stopping');
        this.served.add(cut);
        this.counters.active++;
        this.counters.total++;
        this.init.logger.info({ cluster: this.init.cluster, remote, name, target: `${hello.host}:${hello.port}` }, 'tunnel connection opened');
        await piped.done;
        this.counters.active--;
        this.served.delete(cut);
      } finally {
        release();
      }
    } catch (err) {
      this.init.logger.info({ cluster: this.init.cluster, remote, err: (err as Error).message }, 'tunnel stream ended');
      stream.abort(err as Error);
    }
  }
}

function dial(host: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true, timeout: CONNECT_MS });
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new Error('aborted'));
    const onTimeout = (): void => fail(new Error('connect timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('timeout', onTimeout);
    socket.once('error', fail);
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}

/** As a libp2p `services` entry. */
export function tunnelService(init: TunnelServiceInit): (components: TunnelServiceComponents) => TunnelService {
  return (components) => new TunnelService(components, init);
}
