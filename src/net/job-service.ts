import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { CrissError, type ErrorCode } from '../errors.ts';

/** docs/format.md §16 */
export const JOBS_PROTOCOL = '/crisscross/jobs/1.0.0';
/** A call's method and argument, or an answer's response, together at most this. */
export const MAX_JOB_BYTES = 16 * 1024 * 1024;
export const CALL_ID_BYTES = 16;
const NONCE_BYTES = 16;
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 80;
const CALL = 0x01;
const ANSWER = 0x02;
const ERROR = 0x03;
const CALL_HEAD = 1 + CALL_ID_BYTES + NONCE_BYTES + 4;
const MAX_FRAME = CALL_HEAD + 3 * 4 + 256 + MAX_JOB_BYTES;
const READ_CALL_MS = 10_000;
const MAX_INBOUND = 1024;

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
  handle(cluster: string, req: JobRequest, signal: AbortSignal): Promise<RemoteAnswer>;
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

function encodeAnswer(a: RemoteAnswer): Buffer {
  return Buffer.concat([Buffer.of(ANSWER), a.publicKey, a.signature, a.response]);
}

function encodeError(code: string, message: string): Buffer {
  const c = Buffer.from(code.slice(0, 32), 'latin1');
  return Buffer.concat([Buffer.of(ERROR, c.length), c, Buffer.from(message.slice(0, 1024), 'utf8')]);
}

function decodeReply(frame: Buffer): RemoteAnswer {
  if (frame[0] === ANSWER && frame.length >= 1 + KEY_BYTES + SIGNATURE_BYTES) {
    return {
      publicKey: frame.subarray(1, 1 + KEY_BYTES),
      signature: frame.subarray(1 + KEY_BYTES, 1 + KEY_BYTES + SIGNATURE_BYTES),
      response: frame.subarray(1 + KEY_BYTES + SIGNATURE_BYTES),
    };
  }
  if (frame[0] === ERROR && frame.length >= 2 && frame.length >= 2 + frame[1]) {
    const code = frame.subarray(2, 2 + frame[1]).toString('latin1');
    throw new RemoteJobError(/^[A-Z]{2,32}$/.test(code) ? (code as ErrorCode) : 'ERR', frame.subarray(2 + frame[1]).toString('utf8'));
  }
  throw new RemoteJobError('BADANSWER', 'the provider sent a malformed answer');
}

/**
 * The job exchange of one cluster node (docs/format.md §16), as a libp2p service: one stream
 * per call, CALL from the caller, then ANSWER or ERROR from the provider. Calls that arrive go
 * to the handler, which serves only services announced on this cluster.
 */
export class JobService {
  private readonly components: JobServiceComponents;
  private readonly init: JobServiceInit;
  /** Calls this node is serving (arrived, not yet answered). */
  serving = 0;
  served = 0;

  constructor(components: JobServiceComponents, init: JobServiceInit) {
    this.components = components;
    this.init = init;
  }

  readonly [Symbol.toStringTag] = 'crisscross/jobs';

  async start(): Promise<void> {
    await this.components.registrar.handle(JOBS_PROTOCOL, (stream, connection) => this.serve(stream, connection), { maxInboundStreams: MAX_INBOUND, maxOutboundStreams: MAX_INBOUND });
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(JOBS_PROTOCOL);
  }

  /** Sends one call to `peer` and returns its answer; a refusal throws RemoteJobError with the provider's code. */
  async call(peer: PeerId, req: JobRequest, signal: AbortSignal): Promise<RemoteAnswer> {
    const stream = await this.components.connectionManager.openStream(peer, JOBS_PROTOCOL, { signal });
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME });
      await lp.write(encodeCall(req), { signal });
      const answer = decodeReply(Buffer.from((await lp.read({ signal })).subarray()));
      await stream.close({ signal }).catch(() => undefined);
      return answer;
    } catch (err) {
      stream.abort(err as Error);
      throw err;
    }
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const gone = new AbortController();
    stream.addEventListener('close', () => gone.abort(new CrissError('CANCELLED', 'the caller went away')), { once: true });
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME });
    let req: JobRequest;
    try {
      req = decodeCall(Buffer.from((await lp.read({ signal: AbortSignal.timeout(READ_CALL_MS) })).subarray()));
    } catch (err) {
      this.init.logger.info({ remote: peer, err: (err as Error).message }, 'refused a malformed job call');
      stream.abort(err as Error);
      return;
    }
    this.serving++;
    let reply: Buffer;
    try {
      reply = encodeAnswer(await this.init.handler.handle(this.init.cluster, req, gone.signal));
      this.served++;
    } catch (err) {
      const e = err as Error;
      reply = encodeError(e instanceof CrissError ? e.code : 'ERR', e instanceof CrissError ? e.message : 'internal error');
    } finally {
      this.serving--;
    }
    if (gone.signal.aborted) return;
    try {
      await lp.write(reply, { signal: AbortSignal.timeout(READ_CALL_MS) });
      await stream.close({ signal: AbortSignal.timeout(READ_CALL_MS) });
    } catch (err) {
      this.init.logger.info({ remote: peer, err: (err as Error).message }, 'job answer not delivered');
      stream.abort(err as Error);
    }
  }
}

/** As a libp2p `services` entry. */
export function jobService(init: JobServiceInit): (components: JobServiceComponents) => JobService {
  return (components) => new JobService(components, init);
}
