import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, frame, rawClient, startServer, type TestServer } from './helpers.ts';
import { prng } from '../helpers/prng.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heap(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}


const MB = 1024 * 1024;

function generator(seed: number): () => Buffer {
  const random = prng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const valid = (): Buffer =>
    pick([
      () => frame('PING'),
      () => frame('ECHO', bytes(int(64))),
      () => frame('LATERECHO', bytes(int(64))),
      () => frame('CLIENT', 'GETNAME'),
      () => frame('COMMAND', 'COUNT'),
      () => frame('INFO', 'clients'),
      () => frame(bytes(1 + int(8)), bytes(int(8))),
      () => Buffer.from(`ECHO "${bytes(int(16)).toString('latin1').replace(/["\\]/g, '')}"\r\n`, 'latin1'),
    ])();
  const mutate = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    for (let i = 0, n = 1 + int(4); i < n && out.length > 0; i++) out[int(out.length)] = pick([int(256), 13, 10, 36, 42, 34, 39, 48, 45]);
    return out;
  };
  // Weighted towards frames that parse, so most connections get past their first frame.
  const kinds: Array<() => Buffer> = [
    valid,
    valid,
    valid,
    valid,
    valid,
    () => mutate(valid()),
    () => mutate(valid()),
    () => valid().subarray(0, int(20)),
    () => bytes(int(512)),
    () => Buffer.from(pick(['*2147483647\r\n', '*1048576\r\n', '*1\r\n$536870912\r\n', '*3\r\n$536870911\r\nab', '$999999999999\r\n', '*-1\r\n', '*0\r\n'])),
    () => Buffer.from(`${pick(['"', "'", 'a"b', '\\x', '"\\x4'])}${bytes(int(32)).toString('latin1')}\r\n`, 'latin1'),
  ];
  return () => pick(kinds)();
}

let s: TestServer;

beforeAll(async () => {
  s = await startServer();
});

afterAll(async () => {
  await s.close();
});

describe('fuzzing the RESP port', () => {
  it('survives thousands of random, mutated, truncated and oversized frames', async () => {
    const next = generator(0xc0ffee);
    const before = heap();
    const connections = 400;
    const framesPer = 10;
    const parallel = 10;
    for (let round = 0; round < connections / parallel; round++) {
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          const client = await rawClient(s.port);
          for (let i = 0; i < framesPer && !client.socket.destroyed; i++) client.socket.write(next());
          // Half-close: the server answers what it can parse, then closes.
          client.socket.end();
          await client.closed;
        }),
      );
    }
    for (let i = 0; i < 100 && s.server.clients.length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(s.server.clients).toHaveLength(0);
    // Enough frames got through the parser to reach dispatch, not just the first few bytes.
    expect(s.server.stats.commandsProcessed).toBeGreaterThan(500);
    const pong = await exchange(s.port, 'PING\r\n', (d) => d.length >= 7);
    expect(pong.data.toString()).toBe('+PONG\r\n');
    expect(heap() - before).toBeLessThan(32 * MB);
  }, 120_000);

  it('does not reserve memory for declared lengths that never arrive', async () => {
    const before = heap();
    const clients = await Promise.all(Array.from({ length: 40 }, () => rawClient(s.port)));
    for (const c of clients) c.socket.write(Buffer.concat([Buffer.from('*2\r\n$4\r\nECHO\r\n$536870912\r\n'), Buffer.alloc(4096, 1)]));
    const ping = await exchange(s.port, 'PING\r\n', (d) => d.length >= 7);
    expect(ping.data.toString()).toBe('+PONG\r\n');
    // 40 declared 512 MiB arguments; what is held is what was sent.
    expect(heap() - before).toBeLessThan(16 * MB);
    for (const c of clients) c.socket.destroy();
    await Promise.all(clients.map((c) => c.closed));
  });
});
