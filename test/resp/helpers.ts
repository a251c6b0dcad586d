import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { Dispatcher } from '../../src/commands/dispatch.ts';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { serverCommands } from '../../src/commands/server.ts';
import type { CommandSpec } from '../../src/commands/spec.ts';
import { CrissError } from '../../src/errors.ts';
import { RespServer, type RespServerOptions } from '../../src/resp/server.ts';

export const silent = pino({ level: 'silent' });

/** A promise the test settles by hand: how async test commands are made to wait. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Test-only commands exercising what the server commands do not: async, failing, big replies. */
export function testCommands(gates: Gate[] = []): CommandSpec[] {
  const spec = (name: string, arity: number, handler: CommandSpec['handler'], flags: string[] = []): CommandSpec => ({
    name,
    arity,
    flags,
    group: 'test',
    since: '0.1.0',
    summary: `test command ${name}`,
    arguments: [],
    reply: 'whatever the test needs',
    handler,
  });
  return [
    // Replies after an event-loop turn, like a store read.
    spec('LATERECHO', 2, async ({ args, reply }) => {
      await new Promise((resolve) => setImmediate(resolve));
      reply.bulk(args[0]);
    }),
    // Async increment of per-connection state, read back by COUNTER: proves strict ordering.
    spec('LATERINCR', 1, async ({ client, reply }) => {
      await new Promise((resolve) => setImmediate(resolve));
      const n = ((client.state.get('counter') as number | undefined) ?? 0) + 1;
      client.state.set('counter', n);
      reply.integer(n);
    }),
    spec('COUNTER', 1, ({ client, reply }) => reply.integer((client.state.get('counter') as number | undefined) ?? 0)),
    // Waits for the next gate the test opens.
    spec(
      'WAITGATE',
      1,
      async ({ reply }) => {
        const g = gates.shift();
        if (g !== undefined) await g.promise;
        reply.simple('OPENED');
      },
      ['blocking'],
    ),
    spec('FAILLATER', 1, async () => {
      await new Promise((resolve) => setImmediate(resolve));
      throw new CrissError('NOTFOUND', 'nothing here');
    }),
    spec('BOOM', 1, () => {
      throw new Error('boom');
    }),
    spec('SILENT', 1, () => undefined),
    // Starts a reply and fails: the partial reply must be undone.
    spec('HALFWAY', 1, ({ reply }) => {
      reply.array(3);
      reply.bulk('one');
      throw new CrissError('ERR', 'failed halfway');
    }),
    // BLOB n: a bulk reply of n bytes.
    spec('BLOB', 2, ({ args, reply }) => reply.bulk(Buffer.alloc(Number(Buffer.from(args[0]).toString()), 120))),
    // Leaves a closable value in the connection state.
    spec('OPENTHING', 1, ({ client, reply }) => {
      client.state.set('thing', closable());
      reply.simple('OK');
    }),
    // The same, after waiting for the next gate.
    spec('GATEDOPEN', 1, async ({ client, reply }) => {
      await gates.shift()?.promise;
      client.state.set('thing', closable());
      reply.simple('OK');
    }),
  ];
}

export const openedThings: Array<{ closed: boolean }> = [];

function closable(): { closed: boolean; close(): void } {
  const thing = {
    closed: false,
    close() {
      thing.closed = true;
    },
  };
  openedThings.push(thing);
  return thing;
}

export interface TestServer {
  server: RespServer;
  port: number;
  registry: CommandRegistry;
  close(): Promise<void>;
}

export async function startServer(
  options: Partial<Omit<RespServerOptions, 'dispatcher' | 'host' | 'port'>> & { gates?: Gate[] } = {},
): Promise<TestServer> {
  const { gates, logger = silent, ...rest } = options;
  const registry = new CommandRegistry();
  registry.register(...serverCommands({ registry, logger, version: '0.1.0-test' }), ...testCommands(gates));
  const server = new RespServer({ host: '127.0.0.1', port: 0, dispatcher: new Dispatcher(registry, logger), logger, ...rest });
  const { port } = await server.listen();
  return { server, port, registry, close: () => server.close() };
}

export interface Exchange {
  data: Buffer;
  closed: boolean;
}

/**
 * Writes `input` on a fresh connection and reads until `done(data)` holds or the server closes
 * the socket (then `closed` is true). The caller's test timeout bounds the wait.
 */
export function exchange(port: number, input: Buffer | string, done: (data: Buffer) => boolean = () => false): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let finished = false;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (done(Buffer.concat(chunks))) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err) => {
      // A reset after the server closed still counts as closed.
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') finish(true);
      else reject(err);
    });
    socket.write(input);
  });
}

/** True once `data` ends with `tail`. */
export function endsWith(tail: string | Buffer): (data: Buffer) => boolean {
  const t = Buffer.from(tail);
  return (data) => data.length >= t.length && data.subarray(data.length - t.length).equals(t);
}

export interface RawClient {
  socket: Socket;
  received(): Buffer;
  /** Resolves with everything received once it is at least `n` bytes; rejects if the socket closes first. */
  waitForBytes(n: number): Promise<Buffer>;
  closed: Promise<void>;
}

/** A connected raw socket that collects everything it receives. */
export async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let total = 0;
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    total += c.length;
    wake();
  });
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      wake();
      resolve();
    }),
  );
  socket.on('error', () => undefined);
  const received = (): Buffer => Buffer.concat(chunks);
  const waitForBytes = async (n: number): Promise<Buffer> => {
    for (;;) {
      if (total >= n) return received();
      if (socket.destroyed) throw new Error(`socket closed; received ${JSON.stringify(received().toString('latin1').slice(0, 200))}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return {
    socket,
    received,
    waitForBytes,
    closed,
  };
}

/** Encodes a command as a RESP2 multibulk frame. */
export function frame(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export type Reply = string | number | bigint | boolean | null | Buffer | Reply[] | Map<Reply, Reply> | { error: string } | { verbatim: string };

/**
 * A small RESP2/RESP3 reply parser for assertions. Returns the reply and the bytes it used, or
 * undefined when `buf` holds no complete reply.
 */
export function parseReply(buf: Buffer, at = 0): [Reply, number] | undefined {
  const lineEnd = buf.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[at]);
  const line = buf.toString('latin1', at + 1, lineEnd);
  const next = lineEnd + 2;
  const bulkOf = (len: number): [Buffer, number] | undefined => (buf.length < next + len + 2 ? undefined : [buf.subarray(next, next + len), next + len + 2]);
  const many = (count: number): [Reply[], number] | undefined => {
    const items: Reply[] = [];
    let p = next;
    for (let i = 0; i < count; i++) {
      const r = parseReply(buf, p);
      if (r === undefined) return undefined;
      items.push(r[0]);
      p = r[1];
    }
    return [items, p];
  };
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [{ error: line }, next];
    case ':':
      return [Number(line), next];
    case '(':
      return [BigInt(line), next];
    case ',':
      return [Number(line.replace(/^inf$/, 'Infinity').replace(/^-inf$/, '-Infinity')), next];
    case '#':
      return [line === 't', next];
    case '_':
      return [null, next];
    case '$': {
      if (line === '-1') return [null, next];
      return bulkOf(Number(line));
    }
    case '=': {
      const r = bulkOf(Number(line));
      return r && [{ verbatim: r[0].toString('utf8', 4) }, r[1]];
    }
    case '*':
    case '~':
    case '>':
      if (line === '-1') return [null, next];
      return many(Number(line));
    case '%': {
      const r = many(Number(line) * 2);
      if (r === undefined) return undefined;
      const map = new Map<Reply, Reply>();
      for (let i = 0; i < r[0].length; i += 2) map.set(plain(r[0][i]), r[0][i + 1]);
      return [map, r[1]];
    }
    default:
      throw new Error(`unexpected reply type ${JSON.stringify(type)} at ${at}`);
  }
}

/** Parses every complete reply in `buf`. */
export function parseAll(buf: Buffer): Reply[] {
  const out: Reply[] = [];
  let at = 0;
  for (;;) {
    const r = parseReply(buf, at);
    if (r === undefined) return out;
    out.push(r[0]);
    at = r[1];
  }
}

/** The same reply with every bulk string decoded as UTF-8, for readable assertions. */
export function text(r: Reply): Reply {
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  if (Array.isArray(r)) return r.map(text);
  if (r instanceof Map) return new Map([...r].map(([k, v]) => [text(k), text(v)]));
  return r;
}

/** Map keys as strings, so tests can `get('server')`. */
function plain(r: Reply): Reply {
  return Buffer.isBuffer(r) ? r.toString('utf8') : r;
}
