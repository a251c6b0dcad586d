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
  close(): Promise<void>;
}

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
  const socket: Socket = dial({ host: config.host, port: config.port });
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
  const reader = new RespReader((reply) => {
    const w = waiting.shift();
    if (!w) return fail(new Error('a reply nobody asked for'));
    if (reply instanceof ReplyError) w.reject(reply);
    else w.resolve(reply);
  });
  socket.on('data', (chunk: Buffer) => {
    try {
      reader.feed(chunk);
    } catch (e) {
      fail(e as Error);
    }
  });
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
