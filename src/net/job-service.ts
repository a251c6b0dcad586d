import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { CrissError, type ErrorCode } from '../errors.ts';
import { KEY_BYTES } from './identity.ts';

/** docs/format.md §16 */
export const JOBS_PROTOCOL = '/crisscross/jobs/1.0.0';
/** A call's method and argument, or an answer's response, together at most this. */
export const MAX_JOB_BYTES = 16 * 1024 * 1024;
export const CALL_ID_BYTES = 16;
const NONCE_BYTES = 16;
/** The answer's signature value: nonce and Ed25519 signature (docs/format.md §16). */
const SIGNATURE_BYTES = 80;
const CALL = 0x01;
const ANSWER = 0x02;
const ERROR = 0x03;
const CANCEL = 0x04;
const CALL_HEAD = 1 + CALL_ID_BYTES + NONCE_BYTES + 4;
const MAX_FRAME = CALL_HEAD + 3 * 4 + 256 + MAX_JOB_BYTES;
const WRITE_MS = 10_000;
/** Calls one stream may have in flight; more are refused (QUEUEFULL) without being queued. */
const MAX_CALLS_PER_STREAM = 4096;
const MAX_STREAMS = 16;

export interface JobRequest {
  /** Chosen by the caller per call: a retry of one call to the same provider carries the same id. */
  callId: Buffer;
  service: string;
  method: Buffer;
  arg: Buffer;
  nonce: Buffer;
  timeoutMs: number;
}

export interface RemoteAnswer {
  response: Buffer;
  signature: Buffer;
  publicKey: Buffer;
}

/** Where calls that arrive from members go (the local job queues). */
export interface JobHandler {
  /** `peer`: the caller's peer id, so a call id joins only calls from the same member. */
  handle(cluster: string, peer: string, req: JobRequest, signal: AbortSignal): Promise<RemoteAnswer>;
}

export interface JobServiceInit {
  cluster: string;
  handler: JobHandler;
  logger: Logger;
}

export interface JobServiceComponents {
  registrar: Registrar;
  connectionManager: ConnectionManager;
}

/** A provider's refusal or failure, as it came over the wire (its code kept). */
export class RemoteJobError extends CrissError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'RemoteJobError';
  }
}

function field(b: Uint8Array): Buffer[] {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(b.length);
  return [len, Buffer.from(b.buffer, b.byteOffset, b.byteLength)];
}

export function encodeCall(r: JobRequest): Buffer {
  const head = Buffer.allocUnsafe(CALL_HEAD);
  head[0] = CALL;
  r.callId.copy(head, 1);
  r.nonce.copy(head, 1 + CALL_ID_BYTES);
  head.writeUInt32BE(r.timeoutMs, 1 + CALL_ID_BYTES + NONCE_BYTES);
  return Buffer.concat([head, ...field(Buffer.from(r.service, 'utf8')), ...field(r.method), ...field(r.arg)]);
}

export function decodeCall(frame: Buffer): JobRequest {
  if (frame.length < CALL_HEAD + 12 || frame[0] !== CALL) throw new Error('not a call');
  const fields: Buffer[] = [];
  let o = CALL_HEAD;
  for (let i = 0; i < 3; i++) {
    if (o + 4 > frame.length) throw new Error('truncated call');
    const len = frame.readUInt32BE(o);
    o += 4;
    if (o + len > frame.length) throw new Error('truncated call');
    fields.push(frame.subarray(o, o + len));
    o += len;
  }
  if (o !== frame.length) throw new Error('trailing bytes after a call');
  return {
    callId: frame.subarray(1, 1 + CALL_ID_BYTES),
    nonce: frame.subarray(1 + CALL_ID_BYTES, 1 + CALL_ID_BYTES + NONCE_BYTES),
    timeoutMs: frame.readUInt32BE(1 + CALL_ID_BYTES + NONCE_BYTES),
    service: fields[0].toString('utf8'),
    method: fields[1],
    arg: fields[2],
  };
}

const ID_END = 1 + CALL_ID_BYTES;

function encodeAnswer(callId: Buffer, a: RemoteAnswer): Buffer {
  return Buffer.concat([Buffer.of(ANSWER), callId, a.publicKey, a.signature, a.response]);
}

function encodeError(callId: Buffer, code: string, message: string): Buffer {
  const c = Buffer.from(code.slice(0, 32), 'latin1');
  return Buffer.concat([Buffer.of(ERROR), callId, Buffer.of(c.length), c, Buffer.from(message.slice(0, 1024), 'utf8')]);
}

/** The call id an ANSWER or ERROR frame is for, and its outcome; undefined for a frame that is neither. */
function decodeReply(frame: Buffer): { key: string; outcome: RemoteAnswer | RemoteJobError } | undefined {
  if (frame.length < ID_END) return undefined;
  const key = frame.subarray(1, ID_END).toString('hex');
  if (frame[0] === ANSWER && frame.length >= ID_END + KEY_BYTES + SIGNATURE_BYTES) {
    return {
      key,
      outcome: {
        publicKey: frame.subarray(ID_END, ID_END + KEY_BYTES),
        signature: frame.subarray(ID_END + KEY_BYTES, ID_END + KEY_BYTES + SIGNATURE_BYTES),
        response: frame.subarray(ID_END + KEY_BYTES + SIGNATURE_BYTES),
      },
    };
  }
  if (frame[0] === ERROR && frame.length >= ID_END + 1 && frame.length >= ID_END + 1 + frame[ID_END]) {
    const code = frame.subarray(ID_END + 1, ID_END + 1 + frame[ID_END]).toString('latin1');
    return { key, outcome: new RemoteJobError(/^[A-Z]{2,32}$/.test(code) ? (code as ErrorCode) : 'ERR', frame.subarray(ID_END + 1 + frame[ID_END]).toString('utf8')) };
  }
  return undefined;
}

/** Serialises writes on one stream: frames never interleave. */
class Writer {
  private chain: Promise<void> = Promise.resolve();
  private readonly lp: LengthPrefixedStream<Stream>;

  constructor(lp: LengthPrefixedStream<Stream>) {
    this.lp = lp;
  }

  write(frame: Uint8Array): Promise<void> {
    const run = this.chain.then(() => this.lp.write(frame, { signal: AbortSignal.timeout(WRITE_MS) }));
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/**
 * The job exchange of one cluster node (docs/format.md §16), as a libp2p service: one
 * long-lived stream per pair of peers and direction, CALL frames from the caller, ANSWER or
 * ERROR frames back in whatever order the calls finish, CANCEL when a caller gives up. Calls
 * that arrive go to the handler, which serves only services announced on this cluster.
 */
export class JobService {
  private readonly components: JobServiceComponents;
  private readonly init: JobServiceInit;
  private readonly clients = new Map<string, JobClient>();
  /** Calls this node is serving (arrived, not yet answered). */
  serving = 0;
  served = 0;

  constructor(components: JobServiceComponents, init: JobServiceInit) {
    this.components = components;
    this.init = init;
  }

  readonly [Symbol.toStringTag] = 'crisscross/jobs';

  async start(): Promise<void> {
    await this.components.registrar.handle(JOBS_PROTOCOL, (stream, connection) => this.serve(stream, connection), { maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS });
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(JOBS_PROTOCOL);
    for (const c of this.clients.values()) c.close(new CrissError('CLOSED', 'the node is stopping'));
    this.clients.clear();
  }

  /** Sends one call to `peer` and returns its answer; a refusal throws RemoteJobError with the provider's code. */
  call(peer: PeerId, req: JobRequest, signal: AbortSignal): Promise<RemoteAnswer> {
    const key = peer.toString();
    let c = this.clients.get(key);
    if (c === undefined || c.closed) {
      c = new JobClient(peer, this.components.connectionManager);
      this.clients.set(key, c);
    }
    return c.call(req, signal);
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME });
    const out = new Writer(lp);
    const running = new Map<string, AbortController>();
    const gone = new CrissError('CANCELLED', 'the caller went away');
    try {
      for (;;) {
        let frame: Buffer;
        try {
          frame = Buffer.from((await lp.read()).subarray());
        } catch {
          break;
        }
        if (frame[0] === CANCEL && frame.length === ID_END) {
          running.get(frame.subarray(1).toString('hex'))?.abort(gone);
          continue;
        }
        const req = decodeCall(frame);
        const key = req.callId.toString('hex');
        if (running.has(key)) {
          void out.write(encodeError(req.callId, 'ERR', 'that call id is in flight on this stream already')).catch(() => undefined);
          continue;
        }
        if (running.size >= MAX_CALLS_PER_STREAM) {
          void out.write(encodeError(req.callId, 'QUEUEFULL', `at most ${MAX_CALLS_PER_STREAM} calls in flight per stream`)).catch(() => undefined);
          continue;
        }
        const ac = new AbortController();
        running.set(key, ac);
        void this.answer(peer, req, ac.signal, out).finally(() => running.delete(key));
      }
    } catch (err) {
      this.init.logger.info({ remote: peer, err: (err as Error).message }, 'refused a malformed job frame');
      stream.abort(err as Error);
    } finally {
      for (const ac of running.values()) ac.abort(gone);
    }
  }

  private async answer(peer: string, req: JobRequest, signal: AbortSignal, out: Writer): Promise<void> {
    this.serving++;
    let reply: Buffer;
    try {
      const answer = await this.init.handler.handle(this.init.cluster, peer, req, signal);
      // A frame the caller would refuse to read would fail every call sharing the stream.
      if (answer.response.length > MAX_JOB_BYTES) throw new CrissError('TOOBIG', `a remote answer is limited to ${MAX_JOB_BYTES} bytes`);
      reply = encodeAnswer(req.callId, answer);
      this.served++;
    } catch (err) {
      const e = err as Error;
      reply = encodeError(req.callId, e instanceof CrissError ? e.code : 'ERR', e instanceof CrissError ? e.message : 'internal error');
    } finally {
      this.serving--;
    }
    if (signal.aborted) return;
    await out.write(reply).catch((err: unknown) => this.init.logger.info({ err: (err as Error).message }, 'job answer not delivered'));
  }
}

/** The caller's side of one stream to one provider: calls in flight by id, answers matched as they come. */
class JobClient {
  closed = false;
  private readonly peer: PeerId;
  private readonly cm: ConnectionManager;
  private readonly pending = new Map<string, { resolve: (a: RemoteAnswer) => void; reject: (e: Error) => void }>();
  private opened: Promise<{ stream: Stream; out: Writer }> | undefined;

  constructor(peer: PeerId, cm: ConnectionManager) {
    this.peer = peer;
    this.cm = cm;
  }

  async call(req: JobRequest, signal: AbortSignal): Promise<RemoteAnswer> {
    const { out } = await this.open(signal);
    if (signal.aborted) throw signal.reason as Error;
    const key = req.callId.toString('hex');
    const answered = new Promise<RemoteAnswer>((resolve, reject) => this.pending.set(key, { resolve, reject }));
    const onAbort = (): void => {
      if (!this.pending.delete(key)) return;
      void out.write(Buffer.concat([Buffer.of(CANCEL), req.callId])).catch(() => undefined);
      rejectWith(signal.reason as Error);
    };
    let rejectWith: (e: Error) => void = () => undefined;
    const aborted = new Promise<never>((_, reject) => (rejectWith = reject));
    // Either may settle before the race below is reached: never an unhandled rejection.
    answered.catch(() => undefined);
    aborted.catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await out.write(encodeCall(req));
      return await Promise.race([answered, aborted]);
    } catch (err) {
      this.pending.delete(key);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  close(err: Error): void {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    void this.opened?.then(({ stream }) => stream.abort(err), () => undefined);
  }

  private open(signal: AbortSignal): Promise<{ stream: Stream; out: Writer }> {
    this.opened ??= this.cm.openStream(this.peer, JOBS_PROTOCOL, { signal }).then((stream) => {
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME });
      void this.read(lp);
      return { stream, out: new Writer(lp) };
    });
    this.opened.catch((err: unknown) => this.close(err as Error));
    return this.opened;
  }

  private async read(lp: LengthPrefixedStream<Stream>): Promise<void> {
    try {
      for (;;) {
        const reply = decodeReply(Buffer.from((await lp.read()).subarray()));
        // Not a RemoteJobError: the calls did not fail at the provider, so they may go to another.
        if (reply === undefined) throw new CrissError('BADANSWER', 'the provider sent a malformed frame');
        const p = this.pending.get(reply.key);
        if (p === undefined) continue;
        this.pending.delete(reply.key);
        if (reply.outcome instanceof RemoteJobError) p.reject(reply.outcome);
        else p.resolve(reply.outcome);
      }
    } catch (err) {
      this.close(err instanceof CrissError ? err : new CrissError('CLOSED', `the stream to ${this.peer.toString()} failed: ${(err as Error).message}`));
    }
  }
}

/** As a libp2p `services` entry. */
export function jobService(init: JobServiceInit): (components: JobServiceComponents) => JobService {
  return (components) => new JobService(components, init);
}
