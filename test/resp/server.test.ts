import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, frame, gate, openedThings, parseAll, rawClient, startServer, type Gate, type TestServer } from './helpers.ts';

const servers: TestServer[] = [];
const clients: Redis[] = [];

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(options);
  servers.push(s);
  return s;
}

async function ioredis(port: number): Promise<Redis> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  await r.connect();
  clients.push(r);
  return r;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of servers.splice(0)) await s.close();
});

/** Polls (bounded) until `read()` stops changing: the server has done all it can for now. */
async function settle(read: () => number): Promise<number> {
  let last = read();
  let steady = 0;
  for (let i = 0; i < 500 && steady < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = read();
    steady = now === last ? steady + 1 : 0;
    last = now;
  }
  return last;
}

describe('RespServer with ioredis', () => {
  it('listens on port 0 and reports the real port', async () => {
    const s = await server();
    expect(s.port).toBeGreaterThan(0);
    expect(s.server.port).toBe(s.port);
  });

  it('answers a pipeline of 10,000 sync and async commands in order', async () => {
    const s = await server();
    const redis = await ioredis(s.port);
    const pipeline = redis.pipeline();
    for (let i = 0; i < 10_000; i++) {
      if (i % 3 === 0) pipeline.call('LATERECHO', `v${i}`);
      else pipeline.echo(`v${i}`);
    }
    const results = await pipeline.exec();
    expect(results).toHaveLength(10_000);
    results!.forEach(([error, value], i) => {
      expect(error).toBeNull();
      expect(value).toBe(`v${i}`);
    });
  });

  it('runs each command only after the previous one finished', async () => {
    const s = await server();
    const redis = await ioredis(s.port);
    const results = await redis.pipeline().call('LATERINCR').call('COUNTER').call('LATERINCR').call('LATERINCR').call('COUNTER').exec();
    expect(results!.map(([, v]) => v)).toEqual([1, 1, 2, 3, 3]);
  });

  it('turns handler failures into error replies and keeps the connection', async () => {
    const logged: string[] = [];
    const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _enc, done) => (logged.push(String(chunk)), done()) }));
    const s = await server({ logger });
    const redis = await ioredis(s.port);
    await expect(redis.call('FAILLATER')).rejects.toThrow('NOTFOUND nothing here');
    await expect(redis.call('BOOM')).rejects.toThrow(/^ERR internal error$/);
    await expect(redis.call('SILENT')).rejects.toThrow(/^ERR internal error$/);
    await expect(redis.call('HALFWAY')).rejects.toThrow('ERR failed halfway');
    expect(await redis.ping()).toBe('PONG');
    expect(logged.some((l) => l.includes('"command":"boom"') && l.includes('boom'))).toBe(true);
    expect(logged.some((l) => l.includes('wrote no reply'))).toBe(true);
  });
});

describe('RespServer connection handling', () => {
  it('flushes earlier replies before waiting on a blocking command', async () => {
    const gates: Gate[] = [gate()];
    const s = await server({ gates: [...gates] });
    const client = await rawClient(s.port);
    client.socket.write('PING\r\nWAITGATE\r\nPING\r\n');
    expect((await client.waitForBytes(7)).toString()).toBe('+PONG\r\n');
    gates[0].open();
    expect((await client.waitForBytes(23)).toString()).toBe('+PONG\r\n+OPENED\r\n+PONG\r\n');
    client.socket.destroy();
  });

  it('answers everything a half-closed client sent, then closes', async () => {
    const s = await server();
    const client = await rawClient(s.port);
    client.socket.end(Buffer.concat([frame('LATERECHO', 'a'), frame('PING'), frame('LATERECHO', 'b')]));
    await client.closed;
    expect(client.received().toString()).toBe('$1\r\na\r\n+PONG\r\n$1\r\nb\r\n');
  });

  it('closes closable per-connection state when the client goes away', async () => {
    const s = await server();
    const client = await rawClient(s.port);
    client.socket.write('OPENTHING\r\n');
    await client.waitForBytes(5);
    const thing = openedThings.at(-1)!;
    expect(thing.closed).toBe(false);
    client.socket.destroy();
    await settle(() => s.server.clients.length);
    expect(s.server.clients).toHaveLength(0);
    expect(thing.closed).toBe(true);
  });

  it('closes state that a command in flight leaves after its client went away', async () => {
    const gates: Gate[] = [gate()];
    const s = await server({ gates: [...gates] });
    const client = await rawClient(s.port);
    client.socket.write('GATEDOPEN\r\n');
    await settle(() => (s.server.clients.find((c) => c.blocked) ? 1 : 0));
    // A reset, not a FIN: a half-closed client would still get its reply.
    client.socket.resetAndDestroy();
    await settle(() => s.server.clients.length);
    expect(s.server.clients).toHaveLength(0);
    const opened = openedThings.length;
    gates[0].open();
    await settle(() => openedThings.length);
    expect(openedThings).toHaveLength(opened + 1);
    expect(openedThings.at(-1)!.closed).toBe(true);
  });

  it('logs HTTP on the RESP port at most once a minute', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _enc, done) => (warnings.push(String(chunk)), done()) }));
    const s = await server({ logger });
    for (let i = 0; i < 3; i++) {
      const r = await exchange(s.port, 'POST / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(r).toEqual({ data: Buffer.alloc(0), closed: true });
    }
    expect(warnings.filter((w) => w.includes('SECURITY ATTACK'))).toHaveLength(1);
  });

  it('close() lets the command in flight finish and flush, then closes every connection', async () => {
    const gates: Gate[] = [gate()];
    const s = await server({ gates: [...gates] });
    const busy = await rawClient(s.port);
    const idle = await rawClient(s.port);
    busy.socket.write('WAITGATE\r\nPING\r\n');
    await settle(() => (s.server.clients.find((c) => c.blocked) ? 1 : 0));
    const closing = s.server.close();
    await idle.closed;
    gates[0].open();
    await closing;
    await busy.closed;
    // The command in flight was answered; the one queued behind it was not run.
    expect(busy.received().toString()).toBe('+OPENED\r\n');
    const refused = await new Promise<string>((resolve) => {
      const sock = connect(s.port, '127.0.0.1');
      sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      sock.once('connect', () => (sock.destroy(), resolve('connected')));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe('RespServer back-pressure', () => {
  it('stops reading a client that does not read its replies, and serves it once it does', async () => {
    const s = await server();
    const client = await rawClient(s.port);
    client.socket.pause();
    const count = 100;
    const blob = 1024 * 1024;
    client.socket.write(Buffer.concat(Array.from({ length: count }, () => frame('BLOB', String(blob)))));
    const before = process.memoryUsage();
    const processed = await settle(() => s.server.stats.commandsProcessed);
    const view = s.server.clients[0];
    // 100 MiB of replies were asked for; the server holds a few and waits for the client.
    expect(processed).toBeLessThan(count);
    expect(view.outputBuffered).toBeLessThan(8 * blob);
    const after = process.memoryUsage();
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * blob);
    client.socket.resume();
    const expected = count * (`$${blob}\r\n`.length + blob + 2);
    expect((await client.waitForBytes(expected)).length).toBe(expected);
    client.socket.destroy();
  }, 60_000);

  it('disconnects a client whose pending output passes the limit', async () => {
    const s = await server({ limits: { maxPendingOutput: 1024 * 1024 } });
    const small = await exchange(s.port, frame('BLOB', '500000'), (d) => d.length >= 500_000 + 10);
    expect(small.closed).toBe(false);
    const big = await exchange(s.port, frame('BLOB', '2000000'));
    expect(big.closed).toBe(true);
    expect(big.data.length).toBe(0);
    expect(s.server.stats.rejectedOutputLimit).toBe(1);
  });

  it('stops reading input while a command is in flight and the backlog passes the limit', async () => {
    const gates: Gate[] = [gate()];
    const limit = 256 * 1024;
    const s = await server({ gates: [...gates], limits: { maxPendingInput: limit } });
    const client = await rawClient(s.port);
    const pings = 200_000;
    client.socket.write('WAITGATE\r\n');
    client.socket.write(Buffer.from('PING\r\n'.repeat(pings)));
    const buffered = await settle(() => s.server.clients[0]?.inputBuffered ?? 0);
    expect(buffered).toBeGreaterThan(0);
    expect(buffered).toBeLessThan(limit + 256 * 1024);
    gates[0].open();
    const data = await client.waitForBytes('+OPENED\r\n'.length + pings * 7);
    expect(parseAll(data)).toHaveLength(pings + 1);
    client.socket.destroy();
  }, 30_000);
});
