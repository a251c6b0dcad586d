import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { DispatchSession, Dispatcher, Running } from '../commands/dispatch.ts';
import { subscriptionsOf } from '../pubsub/broker.ts';
import { RespDecoder, RespProtocolError, type DecoderLimits } from './decoder.ts';
import type { ReplyWriter } from './reply.ts';
import { ReplyBuffer } from './writer.ts';

export interface ConnectionLimits extends DecoderLimits {
  /** Unsent reply bytes past which a client is disconnected (Redis client-output-buffer-limit). */
  maxPendingOutput: number;
  /** Unparsed input kept while a command is in flight before the socket stops being read. */
  maxPendingInput: number;
  /** How long a closing connection may take to flush before it is cut. */
  closeTimeoutMs: number;
  /**
   * Unsent bytes past which a pushed message disconnects the client: a subscriber that does
   * not keep up is cut rather than buffered for (Redis's client-output-buffer-limit pubsub).
   */
  maxPushOutput: number;
}

export interface ServerStats {
  connectionsReceived: number;
  commandsProcessed: number;
  netInputBytes: number;
  netOutputBytes: number;
  rejectedOutputLimit: number;
  /** Subscribers cut for falling behind (their share of `rejectedOutputLimit`). */
  rejectedPushLimit: number;
}

/** What a connection needs from the server that owns it. */
export interface ConnectionHost {
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  readonly stats: ServerStats;
  readonly passwordRequired: boolean;
  /** HTTP arrived on the RESP port; the connection closes itself. */
  httpDetected(conn: Connection): void;
  closed(conn: Connection): void;
}

/** Replies are handed to the socket once this much accumulates, even mid-batch. */
const FLUSH_AT = 64 * 1024;
/** Independent commands of one pipeline started behind the first and not yet moved to the output (see `overlap`). */
const MAX_OVERLAPPED = 1024;
/** Start size of an overlapped reply buffer: a root id, a value, a few of them (it grows if needed). */
const OVERLAPPED_REPLY_BYTES = 1024;

/**
 * Independent commands started while earlier ones still run: their replies wait in this buffer.
 * Commands that finish synchronously share the buffer of the one before them once that one has
 * replied (a cache hit costs no buffer of its own); one that goes async ends its run.
 */
interface Overlapped {
  readonly reply: ReplyBuffer;
  /** Commands replying into `reply`. */
  commands: number;
  done: boolean;
}

/**
 * One client's transport: framing, batching, back-pressure; what a command means is the
 * Dispatcher's. Commands run in order: a command's promise settles before the next command is
 * even decoded (the next may depend on its effects, and AUTH changes the decoder's limits),
 * except in a pipelined run of independent commands (CommandSpec.independent), which start
 * one after another without waiting, so N durable writes share a group commit instead of
 * paying N syncs; their replies wait in buffers (see Overlapped), moved to the output in order. Replies
 * accumulate in one buffer that is written once per decoded batch, at the end of the event
 * loop's turn (endBatch), or earlier when it grows past FLUSH_AT or before awaiting a
 * `blocking` command. When the socket pushes back, decoding stops and the socket is paused
 * until it drains.
 */
export class Connection implements DispatchSession {
  readonly id: number;
  name = '';
  readonly state = new Map<string, unknown>();
  unblocker: ((error: boolean) => void) | undefined = undefined;
  readonly addr: string;
  readonly laddr: string;
  readonly createdAt = Date.now();
  lastInteraction = this.createdAt;
  /** Full name of the last command run (`client|list`), for CLIENT LIST. */
  lastCommand = 'NULL';
  libName = '';
  libVer = '';

  private readonly host: ConnectionHost;
  private readonly socket: Socket;
  private readonly decoder: RespDecoder;
  private readonly writer = new ReplyBuffer();
  /** Pushes that arrived while a command was in flight: they follow its reply, not split it. */
  private held: ReplyBuffer | undefined;
  private pushFlushQueued = false;
  /** `writable` calls waiting for the output to shrink. */
  private writableWaiters: Array<{ bytes: number; resolve: () => void }> = [];
  private authed: boolean;
  /** The command replying straight into `writer` is pending. */
  private headRunning = false;
  /** Independent commands started behind it, in order. */
  private overlapped: Overlapped[] = [];
  /** Commands in `overlapped`, for MAX_OVERLAPPED. */
  private overlappedCommands = 0;
  /** Every running command is independent: the next decoded one may start if it is too. */
  private canOverlap = false;
  /** Decoded while commands ran, but it must wait for all of them (it is not independent). */
  private waiting: Buffer[] | undefined;
  /** The decoder failed while commands ran: reported once they have replied. */
  private decodeFailure: unknown;
  /** Its flush waits in batchesEnding. */
  private batchEnding = false;
  private waitingDrain = false;
  private paused = false;
  /** No further command runs; input is discarded and the socket closes once replies are out. */
  private stopping = false;
  private ending = false;
  private peerEnded = false;
  private isClosed = false;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly leaving = new AbortController();
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(id: number, socket: Socket, host: ConnectionHost) {
    this.id = id;
    this.socket = socket;
    this.host = host;
    this.addr = `${socket.remoteAddress}:${socket.remotePort}`;
    this.laddr = `${socket.localAddress}:${socket.localPort}`;
    this.decoder = new RespDecoder(host.limits);
    this.authed = !host.passwordRequired;
    this.decoder.unauthenticated = !this.authed;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  /** A handler's promise is pending. */
  private get busy(): boolean {
    return this.headRunning || this.overlapped.length > 0;
  }

  get protocol(): 2 | 3 {
    return this.writer.protocol;
  }

  set protocol(p: 2 | 3) {
    this.writer.protocol = p;
  }

  push(frame: (reply: ReplyWriter) => void): void {
    if (this.stopping || this.socket.destroyed) return;
    let target = this.writer;
    if (this.busy) {
      this.held ??= new ReplyBuffer();
      this.held.protocol = this.writer.protocol;
      target = this.held;
    }
    frame(target);
    const pending = this.outputBuffered;
    if (pending > this.host.limits.maxPushOutput) {
      this.host.stats.rejectedOutputLimit++;
      this.host.stats.rejectedPushLimit++;
      this.host.logger.warn({ client: this.id, addr: this.addr, pending }, 'subscriber output limit exceeded, disconnecting');
      this.destroy();
      return;
    }
    if (this.busy || this.pushFlushQueued) return;
    // One write for every message published in the same tick (a pipelined batch of PUBLISH).
    this.pushFlushQueued = true;
    queueMicrotask(this.flushPushes);
  }


  /** Undefined while fewer than `bytes` reply bytes are unsent, else resolves once they are (or the client is gone): a stream's back-pressure. */
  writable(bytes: number): Promise<void> | undefined {
    if (this.isClosed || this.outputBuffered < bytes) return undefined;
    return new Promise((resolve) => this.writableWaiters.push({ bytes, resolve }));
  }

  private notifyWritable(): void {
    if (this.writableWaiters.length === 0) return;
    const pending = this.outputBuffered;
    this.writableWaiters = this.writableWaiters.filter((w) => {
      if (!this.isClosed && pending >= w.bytes) return true;
      w.resolve();
      return false;
    });
  }

  private readonly flushPushes = (): void => {
    this.pushFlushQueued = false;
    if (!this.busy && !this.waitingDrain && !this.stopping) this.flush();
  };

  get authenticated(): boolean {
    return this.authed;
  }

  set authenticated(a: boolean) {
    this.authed = a;
    this.decoder.unauthenticated = !a;
  }

  /** Unparsed request bytes (CLIENT LIST `qbuf`). */
  get inputBuffered(): number {
    return this.decoder.buffered;
  }

  /** Reply bytes not yet taken by the kernel (CLIENT LIST `omem`). */
  get outputBuffered(): number {
    return this.writer.length + (this.held?.length ?? 0) + this.socket.writableLength;
  }

  get subscribed(): { channels: number; patterns: number } {
    const s = subscriptionsOf(this.state);
    return { channels: s?.channelCount ?? 0, patterns: s?.patternCount ?? 0 };
  }

  /** A command is in flight. */
  get blocked(): boolean {
    return this.busy;
  }

  get gone(): AbortSignal {
    return this.leaving.signal;
  }

  get connected(): boolean {
    return !this.socket.destroyed;
  }

  drop(): void {
    this.destroy();
  }

  unblock(error: boolean): boolean {
    const unblocker = this.unblocker;
    if (unblocker === undefined) return false;
    this.unblocker = undefined;
    unblocker(error);
    return true;
  }

  kill(): void {
    this.destroy();
  }

  closeAfterReply(): void {
    this.stopping = true;
  }

  /** Server shutdown: let the command in flight finish and its reply flush, then close. */
  shutdown(): Promise<void> {
    if (!this.isClosed) {
      this.stopping = true;
      if (!this.busy && !this.waitingDrain) this.endBatch();
      this.armCloseTimer();
    }
    return this.closedPromise;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.stopping) return;
    this.host.stats.netInputBytes += chunk.length;
    this.lastInteraction = Date.now();
    this.decoder.push(chunk);
    if (!this.busy && !this.waitingDrain) this.pump();
    else {
      this.overlap();
      if (this.decoder.buffered > this.host.limits.maxPendingInput) this.pauseInput();
    }
  };

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    if (!this.busy) this.pump();
    else this.overlap();
    this.notifyWritable();
  };

  /** The client half-closed: answer what it sent, then close (we listen with allowHalfOpen). */
  private readonly onEnd = (): void => {
    this.peerEnded = true;
    this.leaving.abort();
    if (!this.busy && !this.waitingDrain) this.pump();
  };

  private readonly onError = (err: Error): void => {
    this.host.logger.debug({ err, client: this.id }, 'client socket error');
  };

  private readonly onClose = (): void => {
    this.isClosed = true;
    this.stopping = true;
    clearTimeout(this.closeTimer);
    this.leaving.abort();
    closeSessionState(this.state, this.host.logger);
    this.host.closed(this);
    this.notifyWritable();
    this.resolveClosed();
  };

  private readonly onSettled = (): void => {
    this.headRunning = false;
    this.collect();
  };

  /** Moves the replies of finished overlapped commands to the output, in order, once every earlier one has replied. */
  private collect(): void {
    if (this.headRunning) return;
    let moved = false;
    while (this.overlapped.length > 0 && this.overlapped[0].done) {
      const entry = this.overlapped.shift() as Overlapped;
      this.overlappedCommands -= entry.commands;
      entry.reply.flush({ write: (chunk, written) => (this.writer.append(chunk, written), true) });
      moved = true;
    }
    if (this.overlapped.length === 0) {
      this.settled();
      return;
    }
    if (moved) this.queueBatchEnd();
    this.overlap();
  }

  /** Every command started has replied. */
  private settled(): void {
    this.canOverlap = false;
    if (this.held !== undefined && this.held.length > 0) this.held.flush({ write: (chunk, written) => (this.writer.append(chunk, written), true) });
    this.afterAsync();
  }

  /** Decodes and runs commands until input runs out, a handler goes async, or output backs up. */
  private pump(): void {
    while (!this.stopping) {
      let argv = this.waiting;
      this.waiting = undefined;
      if (this.decodeFailure !== undefined) {
        this.protocolError(this.decodeFailure);
        return;
      }
      try {
        argv ??= this.decoder.next();
      } catch (e) {
        this.protocolError(e);
        return;
      }
      if (argv === undefined) {
        if (this.peerEnded) this.stopping = true;
        break;
      }
      const running = this.execute(argv);
      if (running !== undefined) {
        this.headRunning = true;
        if (running.blocking) this.flush();
        if (this.decoder.holds(argv)) {
          const ran = argv;
          running.done.then(() => {
            this.finished(ran);
            this.onSettled();
          });
        } else running.done.then(this.onSettled);
        this.canOverlap = running.independent;
        this.overlap();
        return;
      }
      this.finished(argv);
      if (this.writer.length >= FLUSH_AT && !this.flush()) return;
    }
    this.endBatch();
  }

  /** A command has replied: the memory of its arguments may take new input if its handler kept none of them. */
  private finished(argv: Buffer[]): void {
    if (this.decoder.holds(argv) && this.host.dispatcher.releasesArgs(argv)) this.decoder.recycle(argv);
  }

  /**
   * While every running command is independent, starts the independent commands that follow
   * it in the input, replying into Overlapped buffers; the first other command waits.
   */
  private overlap(): void {
    while (this.canOverlap && !this.stopping && !this.waitingDrain && this.overlappedCommands < MAX_OVERLAPPED) {
      let argv: Buffer[] | undefined;
      try {
        argv = this.decoder.next();
      } catch (e) {
        this.decodeFailure = e;
        this.canOverlap = false;
        return;
      }
      if (argv === undefined) return;
      if (!this.host.dispatcher.independent(argv)) {
        this.waiting = argv;
        this.canOverlap = false;
        return;
      }
      let entry = this.overlapped.at(-1);
      if (entry === undefined || !entry.done) {
        entry = { reply: new ReplyBuffer(OVERLAPPED_REPLY_BYTES), commands: 0, done: true };
        entry.reply.protocol = this.writer.protocol;
        this.overlapped.push(entry);
      }
      entry.commands++;
      this.overlappedCommands++;
      this.host.stats.commandsProcessed++;
      const running = this.host.dispatcher.dispatch(argv, this, entry.reply);
      if (running !== undefined) {
        const waited = entry;
        const ran = argv;
        waited.done = false;
        running.done.then(() => {
          this.finished(ran);
          waited.done = true;
          this.collect();
        });
      } else this.finished(argv);
    }
  }

  private afterAsync(): void {
    if (this.isClosed) {
      // The client left while the command ran; whatever it put in the state must not leak.
      closeSessionState(this.state, this.host.logger);
      return;
    }
    if (this.socket.destroyed) return;
    if (this.writer.length >= FLUSH_AT && !this.flush()) return;
    if (!this.waitingDrain) this.pump();
  }

  /**
   * Input exhausted: flush once every connection readable in this turn of the event loop has
   * been read (setImmediate runs after libuv's poll phase). On loopback a write runs the
   * receiver's TCP input and wakes it; written in one burst after all the reads, 50 clients'
   * replies cost far less than writes interleaved with reads (docs/benchmarks.md: FETCHBIN
   * +53 %, +43 % with -P 16). Stopping flushes at once.
   */
  private endBatch(): void {
    if (this.stopping) this.endBatchNow();
    else this.queueBatchEnd();
  }

  /**
   * Flushes at the end of this turn of the event loop, with every other connection queued; also
   * how replies that are ready leave without waiting for the rest of a pipeline.
   */
  private queueBatchEnd(): void {
    if (this.batchEnding) return;
    this.batchEnding = true;
    if (Connection.batchesEnding.length === 0) setImmediate(Connection.endBatches);
    Connection.batchesEnding.push(this);
  }

  /** Connections whose batch ended in this turn of the event loop, flushed together. */
  private static readonly batchesEnding: Connection[] = [];

  private static endBatches(): void {
    for (const c of Connection.batchesEnding.splice(0)) c.endQueuedBatch();
  }

  /**
   * Since it was queued, a connection may have met a full socket (its `drain` goes on from
   * there), begun to stop (it flushes as it stops), or have commands still running: their
   * replies so far leave, but input stays as it is until they settle and end their own batch.
   */
  private endQueuedBatch(): void {
    if (!this.batchEnding) return;
    this.batchEnding = false;
    if (this.waitingDrain || this.stopping) return;
    if (this.busy) this.flush();
    else this.endBatchNow();
  }

  /** Flush, then close or read on. */
  private endBatchNow(): void {
    this.batchEnding = false;
    if (this.socket.destroyed) return;
    if (!this.flush() && !this.stopping) return;
    if (this.stopping) this.end();
    else if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private execute(argv: Buffer[]): Running | undefined {
    this.host.stats.commandsProcessed++;
    if ((argv.length === 3 && isHttpRequestLine(argv)) || isHttpHeader(argv[0])) return this.http();
    return this.host.dispatcher.dispatch(argv, this, this.writer);
  }

  private protocolError(e: unknown): void {
    this.stopping = true;
    if (!(e instanceof RespProtocolError)) {
      this.host.logger.error({ err: e, client: this.id }, 'request decoder failed');
      this.destroy();
      return;
    }
    this.host.logger.debug({ client: this.id, reason: e.kind }, 'protocol error');
    this.writer.errorLatin1(`ERR ${e.message}`);
    this.endBatch();
  }

  private http(): undefined {
    this.host.httpDetected(this);
    this.destroy();
    return undefined;
  }

  /** Hands pending replies to the socket; false when it pushed back (or the client was cut). */
  private flush(): boolean {
    const length = this.writer.length;
    if (length === 0 || this.socket.destroyed) return true;
    if (length + this.socket.writableLength > this.host.limits.maxPendingOutput) {
      this.host.stats.rejectedOutputLimit++;
      this.host.logger.warn({ client: this.id, addr: this.addr, pending: length + this.socket.writableLength }, 'client output limit exceeded, disconnecting');
      this.destroy();
      return false;
    }
    this.host.stats.netOutputBytes += length;
    const sent = this.writer.flush(this.socket);
    this.notifyWritable();
    if (sent) return true;
    this.waitingDrain = true;
    this.pauseInput();
    return false;
  }

  private pauseInput(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Graceful close: FIN after the last reply, then release the socket. */
  private end(): void {
    if (this.ending || this.socket.destroyed) return;
    this.ending = true;
    // Keep reading (and discarding) so a client still sending cannot stall the close.
    if (this.paused) this.socket.resume();
    this.socket.end(() => this.socket.destroy());
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== undefined || this.isClosed) return;
    this.closeTimer = setTimeout(() => this.destroy(), this.host.limits.closeTimeoutMs);
    this.closeTimer.unref();
  }

  private destroy(): void {
    this.stopping = true;
    this.socket.destroy();
  }
}

/** Closes every value in a session's state that can be closed (an open iterator, a stream). */
export function closeSessionState(state: Map<string, unknown>, logger: Logger): void {
  for (const [key, value] of state) {
    if (typeof value !== 'object' || value === null || !('close' in value) || typeof value.close !== 'function') continue;
    const report = (err: unknown): void => logger.warn({ err, key }, 'closing connection state failed');
    try {
      const done: unknown = value.close();
      if (done instanceof Promise) done.catch(report);
    } catch (err) {
      report(err);
    }
  }
  state.clear();
}

/** `GET / HTTP/1.1` sent as an inline command. */
function isHttpRequestLine(argv: Buffer[]): boolean {
  const method = argv[0];
  return method.length === 3 && (method[0] | 0x20) === 103 && argv[1][0] === 47 && argv[2].toString('latin1', 0, 5) === 'HTTP/';
}

/**
 * Redis closes silently on `POST` and `Host:`: cross-protocol scripting from a browser. No
 * command has either name, so this runs before dispatch, on bytes, without a lookup.
 */
function isHttpHeader(name: Buffer): boolean {
  if (name.length === 4) return (name[0] | 0x20) === 0x70 && (name[1] | 0x20) === 0x6f && (name[2] | 0x20) === 0x73 && (name[3] | 0x20) === 0x74;
  return name.length === 5 && (name[0] | 0x20) === 0x68 && (name[1] | 0x20) === 0x6f && (name[2] | 0x20) === 0x73 && (name[3] | 0x20) === 0x74 && name[4] === 0x3a;
}
