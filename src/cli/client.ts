import type { Socket } from 'node:net';
import type { ClientConfig } from '../config.ts';
import { CliFailure, EXIT } from './exit.ts';
import { encodeCommand, ReplyError, RespReader, type Reply } from './resp.ts';

export type { Reply } from './resp.ts';

export interface Connection {
  /**
   * Send one command; a `-ERR …` reply becomes a CliFailure with exit code 3 (or 4 for auth).
   * Calls made without awaiting the previous ones go out back to back and are answered in order
   * (pipelining); pipeline.ts bounds how much of that is in flight.
   */
  call(command: string, ...args: Array<string | Buffer>): Promise<Reply>;
  /**
   * Gives back a bulk reply's buffer that nothing reads any more: a later reply of the same size
   * is read into it. A stream of fresh MiB buffers costs V8 a full collection every few dozen.
   */
  recycle(reply: Buffer): void;
  close(): Promise<void>;
}

/** The socket's read buffer. */
const READ_BUFFER = 256 * 1024;
/** Replies smaller than this are not worth keeping buffers for. */
const RECYCLE_MIN = 64 * 1024;
/** Free buffers kept per connection: a transfer's read-ahead, and one being written out. */
const RECYCLE_MAX = 8;

const CONNECT_TIMEOUT_MS = 3000;

function describeConnectError(config: ClientConfig, cause: Error | undefined): string {
  const where = `crisscross daemon at ${config.host}:${config.port}`;
  const message = cause?.message ?? 'connection closed';
  if (message.startsWith('NOAUTH')) return `the ${where} requires a password: pass --password or set CRISSCROSS_PASSWORD`;
  if (message.startsWith('WRONGPASS') || message.includes('invalid password')) return `the ${where} refused the password`;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ECONNREFUSED' ? 'connection refused' : message;
  return `cannot reach the ${where} (${reason}): is \`crisscross serve\` running there? (--host/--port or CRISSCROSS_HOST/CRISSCROSS_PORT)`;
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(e: Error): void;
}

/**
 * One RESP2 connection, written here rather than taken from a general client: a CLI moving a
 * file needs replies in exactly-sized buffers and arguments written without copies (see
 * resp.ts), and must fail at once, never sit retrying against a daemon that is not there.
 */
export async function connect(config: ClientConfig): Promise<Connection> {
  // Loaded on demand, so `--help` and usage errors answer without opening the network stack.
  const { connect: dial } = await import('node:net');
  // Every read lands in one buffer of ours (the parser copies out what it keeps) instead of a
  // fresh 64 KiB buffer per read, which at hundreds of MB/s kept V8 collecting.
  const readBuffer = Buffer.allocUnsafe(READ_BUFFER);
  const socket: Socket = dial({ host: config.host, port: config.port, onread: { buffer: readBuffer, callback: (n) => onRead(readBuffer.subarray(0, n)) } });
  const waiting: Waiter[] = [];
  let broken: CliFailure | undefined;

  let connected = false;
  const fail = (e: Error): void => {
    const message = connected
      ? `lost the connection to the crisscross daemon at ${config.host}:${config.port} (${e.message})`
      : describeConnectError(config, e);
    broken ??= new CliFailure(EXIT.unreachable, message);
    for (const w of waiting.splice(0)) w.reject(broken);
    socket.destroy();
  };
  const free: Buffer[] = [];
  const alloc = (length: number): Buffer => {
    const i = length >= RECYCLE_MIN ? free.findIndex((b) => b.length === length) : -1;
    return i < 0 ? Buffer.allocUnsafe(length) : free.splice(i, 1)[0];
  };
  const reader = new RespReader((reply) => {
    const w = waiting.shift();
    if (!w) return fail(new Error('a reply nobody asked for'));
    if (reply instanceof ReplyError) w.reject(reply);
    else w.resolve(reply);
  }, alloc);
  function onRead(chunk: Buffer): boolean {
    try {
      reader.feed(chunk);
    } catch (e) {
      fail(e as Error);
    }
    return true;
  }
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      connected = true;
      resolve();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(broken);
    });
  });
  socket.setNoDelay(true);

  const send = (command: string, args: Array<string | Buffer>): Promise<Reply> => {
    if (broken) return Promise.reject(broken);
    const reply = new Promise<Reply>((resolve, reject) => waiting.push({ resolve, reject }));
    socket.cork();
    for (const part of encodeCommand(command, args)) socket.write(part);
    process.nextTick(() => socket.uncork());
    return reply;
  };

  const call = async (command: string, ...args: Array<string | Buffer>): Promise<Reply> => {
    try {
      return await send(command, args);
    } catch (e) {
      if (!(e instanceof ReplyError)) throw e;
      if (/^(NOAUTH|WRONGPASS)\b/.test(e.message)) throw new CliFailure(EXIT.unreachable, describeConnectError(config, e));
      throw new CliFailure(EXIT.server, e.message);
    }
  };

  if (config.password !== undefined) {
    try {
      await call('AUTH', config.password);
    } catch (e) {
      socket.destroy();
      throw e;
    }
  }
  return {
    call,
    recycle(reply) {
      // A view into a bigger buffer (a simple string, a nested reply) is not ours to reuse.
      if (reply.length >= RECYCLE_MIN && reply.byteOffset === 0 && reply.buffer.byteLength === reply.length && free.length < RECYCLE_MAX && !free.includes(reply)) free.push(reply);
    },
    async close() {
      if (broken) return;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // Replies still owed are read first: the daemon answers QUIT after them, then closes.
      await send('QUIT', []).catch(() => {});
      socket.end();
      await closed;
    },
  };
}
