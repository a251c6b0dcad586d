import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { STREAM_WINDOW, type StreamConsumer, type StreamHub, newStreamRef } from '../pubsub/stream.ts';

/** docs/pubsub.md, remote streams */
export const STREAM_PROTOCOL = '/crisscross/stream/1.0.0';
const START = 0x01;
const ACCEPT = 0x02;
const REFUSE = 0x03;
const SEND = 0x04;
const RESULT = 0x05;
const END = 0x06;
/** A method, argument or result travels if it fits here. */
export const MAX_STREAM_FRAME = 8 * 1024 * 1024;
const OPEN_MS = 10_000;
const MAX_NAME = 1024;

export interface StreamServiceInit {
  hub: StreamHub;
  logger: Logger;
}

export interface StreamServiceComponents {
  registrar: Registrar;
  connectionManager: ConnectionManager;
}

function frame(type: number, ...parts: Uint8Array[]): Buffer {
  return Buffer.concat([Buffer.of(type), ...parts]);
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

function text(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

/**
 * Streams between members (docs/pubsub.md). The caller's side opens one libp2p stream
 * per stream and sends START; the side with a worker for the service answers ACCEPT and runs
 * it on its StreamHub. SEND frames are read one at a time and each waits for room in the
 * hub's window before the next is read, RESULT frames are written as the hub delivers, and
 * the caller reads the next RESULT only once its own subscribers took the last: both ways the
 * stream's flow control (yamux's window) carries the back-pressure, and nothing grows.
 */
export class StreamService {
  private readonly components: StreamServiceComponents;
  private readonly init: StreamServiceInit;
  /** Streams this node opened to others, by the local ref. */
  private readonly outgoing = new Map<string, RemoteStream>();

  constructor(components: StreamServiceComponents, init: StreamServiceInit) {
    this.components = components;
    this.init = init;
  }

  readonly [Symbol.toStringTag] = 'crisscross/streams';

  async start(): Promise<void> {
    await this.components.registrar.handle(STREAM_PROTOCOL, (stream, connection) => this.serve(stream, connection), { maxInboundStreams: 256, maxOutboundStreams: 256 });
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(STREAM_PROTOCOL);
    for (const s of this.outgoing.values()) s.stop('node stopped');
  }

  get openCount(): number {
    return this.outgoing.size;
  }

  has(ref: string): boolean {
    return this.outgoing.has(ref);
  }

  send(ref: string, method: Uint8Array, arg: Uint8Array, timeoutMs: number): number | Promise<number> {
    const s = this.outgoing.get(ref);
    if (s === undefined) throw new CrissError('CLOSED', 'no such stream, or it has ended');
    return s.send(method, arg, timeoutMs);
  }

  /** STREAMSTOP, or the connection that opened it closed. */
  end(ref: string, reason: string): void {
    this.outgoing.get(ref)?.stop(reason);
  }

  /** Tries the connected members in turn until one has a worker for `service`. */
  async open(service: string, consumerFor: (ref: string) => StreamConsumer): Promise<string> {
    const peers = new Map<string, PeerId>();
    for (const c of this.components.connectionManager.getConnections()) peers.set(c.remotePeer.toString(), c.remotePeer);
    const order = [...peers.values()].sort(() => Math.random() - 0.5);
    const refusals: string[] = [];
    for (const peer of order) {
      let stream: Stream | undefined;
      try {
        stream = await this.components.connectionManager.openStream(peer, STREAM_PROTOCOL, { signal: AbortSignal.timeout(OPEN_MS) });
        const lp = lpStream(stream, { maxDataLength: MAX_STREAM_FRAME + 16 });
        await lp.write(frame(START, Buffer.from(service)), { signal: AbortSignal.timeout(OPEN_MS) });
        const answer = (await lp.read({ signal: AbortSignal.timeout(OPEN_MS) })).subarray();
        if (answer[0] !== ACCEPT) {
          refusals.push(answer[0] === REFUSE ? text(answer.subarray(1)) : 'bad answer');
          await stream.close().catch(() => undefined);
          continue;
        }
        const ref = newStreamRef();
        const remote = new RemoteStream(ref, peer, stream, lp, consumerFor(ref), this.init.logger, () => this.outgoing.delete(ref));
        this.outgoing.set(ref, remote);
        this.init.logger.info({ ref, service, remote: peer.toString() }, 'remote stream opened');
        return ref;
      } catch (err) {
        stream?.abort(err as Error);
        refusals.push((err as Error).message);
      }
    }
    throw new CrissError('NOWORKER', `no member serves ${service.slice(0, 64)} (${peers.size} asked${refusals.length > 0 ? `: ${refusals[0]}` : ''})`);
  }

  /** The worker's side: START, then SEND frames into the hub, RESULT frames out. */
  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_STREAM_FRAME + 16 });
    const { hub, logger } = this.init;
    let ref: string | undefined;
    try {
      const start = (await lp.read({ signal: AbortSignal.timeout(OPEN_MS) })).subarray();
      if (start[0] !== START || start.length > MAX_NAME + 1) throw new Error('expected START');
      const service = text(start.subarray(1));
      if (!hub.hasWorkers(service)) {
        await lp.write(frame(REFUSE, Buffer.from(`no worker serves ${service.slice(0, 64)}`)));
        await stream.close();
        return;
      }
      let ended = false;
      ref = hub.start(service, {
        deliver: (seq, payload) => {
          // Past the frame limit the caller would reset the stream: end it here, with a reason.
          if (payload.length > MAX_STREAM_FRAME) throw new Error(`result ${seq} is over ${MAX_STREAM_FRAME} bytes`);
          return lp.write(frame(RESULT, u32(seq), payload)).then(() => undefined);
        },
        end: (reason) => {
          ended = true;
          void lp.write(frame(END, Buffer.from(reason))).then(() => stream.close(), () => stream.abort(new Error(reason)));
        },
      });
      await lp.write(frame(ACCEPT));
      logger.info({ ref, service, remote }, 'serving a stream for a member');
      while (!ended) {
        const f = (await lp.read()).subarray();
        if (f[0] === END) {
          hub.stop(ref, 'stopped by the caller');
          return;
        }
        if (f[0] !== SEND || f.length < 9) throw new Error('expected SEND or END');
        const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
        const methodLength = b.readUInt32BE(5);
        if (9 + methodLength > b.length) throw new Error('method runs past the frame');
        await hub.send(ref, b.subarray(9, 9 + methodLength), b.subarray(9 + methodLength), 0);
      }
    } catch (err) {
      if (ref !== undefined) hub.stop(ref, 'caller gone');
      logger.info({ remote, err: (err as Error).message }, 'stream from a member ended');
      stream.abort(err as Error);
    }
  }

  info(): string {
    return `streams_out=${this.outgoing.size}`;
  }
}

/** The caller's side of a stream served by another member. */
class RemoteStream {
  private readonly ref: string;
  private readonly peer: PeerId;
  private readonly stream: Stream;
  private readonly lp: LengthPrefixedStream<Stream>;
  private readonly consumer: StreamConsumer;
  private readonly logger: Logger;
  private readonly forget: () => void;
  private sent = 0;
  private delivered = 0;
  private ended = false;
  private roomWaiters: Array<() => void> = [];
  private writing: Promise<unknown> = Promise.resolve();

  constructor(ref: string, peer: PeerId, stream: Stream, lp: LengthPrefixedStream<Stream>, consumer: StreamConsumer, logger: Logger, forget: () => void) {
    this.ref = ref;
    this.peer = peer;
    this.stream = stream;
    this.lp = lp;
    this.consumer = consumer;
    this.logger = logger;
    this.forget = forget;
    void this.read();
  }

  /**
   * With room in the window the frame is queued behind the earlier ones and the seq given at
   * once; the window, not the write, bounds what is in flight.
   */
  send(method: Uint8Array, arg: Uint8Array, timeoutMs: number): number | Promise<number> {
    if (this.sent - this.delivered >= STREAM_WINDOW && !this.ended) return this.room(timeoutMs).then(() => this.send(method, arg, timeoutMs));
    if (this.ended) throw new CrissError('CLOSED', 'the stream has ended');
    if (method.length + arg.length > MAX_STREAM_FRAME) throw new CrissError('TOOBIG', `a message to another member holds at most ${MAX_STREAM_FRAME} bytes`);
    const seq = ++this.sent;
    const bytes = frame(SEND, u32(seq), u32(method.length), Buffer.from(method), Buffer.from(arg));
    this.writing = this.writing.then(() => this.lp.write(bytes)).catch((err: unknown) => {
      if (!this.ended) this.logger.info({ ref: this.ref, err: (err as Error).message }, 'remote stream write failed');
      this.stream.abort(err as Error);
    });
    return seq;
  }

  private room(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.roomWaiters = this.roomWaiters.filter((w) => w !== resolve);
        reject(new CrissError('TIMEOUT', `the stream had no room within ${timeoutMs} ms: its consumer or worker is behind`));
      }, timeoutMs) : undefined;
      this.roomWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async read(): Promise<void> {
    let reason = 'worker side gone';
    try {
      for (;;) {
        const f = (await this.lp.read()).subarray();
        if (f[0] === END) {
          reason = text(f.subarray(1));
          break;
        }
        if (f[0] !== RESULT || f.length < 5) throw new Error('expected RESULT or END');
        const seq = Buffer.from(f.buffer, f.byteOffset, f.byteLength).readUInt32BE(1);
        // The next frame is read only once the subscribers here took this one.
        await this.consumer.deliver(seq, f.subarray(5));
        this.delivered++;
        for (const w of this.roomWaiters.splice(0)) w();
      }
    } catch (err) {
      if (this.ended) return;
      this.logger.info({ ref: this.ref, remote: this.peer.toString(), err: (err as Error).message }, 'remote stream failed');
      this.finish(reason);
      this.stream.abort(err as Error);
      return;
    }
    this.finish(reason);
    this.stream.close().catch((err: unknown) => this.stream.abort(err as Error));
  }

  stop(reason: string): void {
    if (this.ended) return;
    void this.writing.then(() => this.lp.write(frame(END))).then(() => this.stream.close(), () => this.stream.abort(new Error(reason)));
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.forget();
    for (const w of this.roomWaiters.splice(0)) w();
    this.logger.info({ ref: this.ref, remote: this.peer.toString(), reason }, 'remote stream ended');
    this.consumer.end(reason);
  }
}

/** As a libp2p `services` entry. */
export function streamService(init: StreamServiceInit): (components: StreamServiceComponents) => StreamService {
  return (components) => new StreamService(components, init);
}
