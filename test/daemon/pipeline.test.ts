import { connect } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';

afterAll(cleanupDaemons);

/** One `INFO store` figure. */
async function storeInfo(redis: Redis, field: string): Promise<number> {
  const m = new RegExp(`${field}:(\\d+)`).exec(String(await redis.call('INFO', 'store')));
  return Number(m?.[1]);
}

/** Replies of one pipeline, sent in one write by ioredis; a failed command fails the test. */
async function pipeline(redis: Redis, commands: string[][]): Promise<Array<Buffer | null>> {
  const p = redis.pipeline();
  for (const [name, ...args] of commands) p.callBuffer(name, ...args);
  const results = (await p.exec()) ?? [];
  return results.map(([err, reply]) => {
    if (err !== null) throw err;
    return reply as Buffer | null;
  });
}

const put = (root: string, i: number): string[] => ['PUTMULTIBIN', root, '-1', `k${i}`, `v${i}`];

/** A command as a RESP multibulk frame. */
const frame = (argv: string[]): string => `*${argv.length}\r\n${argv.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Sends raw bytes in one write and returns everything the daemon sent back until it closed. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

describe('pipelined independent writes', () => {
  it('run together and share syncs, each reply the root of its own command, in order', async () => {
    const daemon = await startDaemon();
    const redis = daemon.redis();
    const base = String(await redis.call('PUTMULTIBIN', '', '-1', 'base', 'b'));
    const commits = await storeInfo(redis, 'store_commits');
    const syncs = await storeInfo(redis, 'store_syncs');
    const n = 200;
    const roots = (await pipeline(redis, Array.from({ length: n }, (_, i) => put(base, i)))).map(String);
    expect(await storeInfo(redis, 'store_commits') - commits).toBe(n);
    // One command at a time would have paid one sync each.
    expect(await storeInfo(redis, 'store_syncs') - syncs).toBeLessThan(n / 2);
    // Reply i is the root of command i: it holds k{i} and no other command's key.
    const checks = await pipeline(redis, roots.flatMap((root, i) => [['FETCHBIN', root, `k${i}`], ['FETCHBIN', root, `k${(i + 1) % n}`], ['FETCHBIN', root, 'base']]));
    for (let i = 0; i < n; i++) {
      expect(checks.slice(3 * i, 3 * i + 3).map((r) => r?.toString() ?? null), `reply ${i}`).toEqual([`v${i}`, null, 'b']);
    }
  }, 60_000);

  it('keep their order around the commands that depend on it: a VARSET is seen by the read after it', async () => {
    const daemon = await startDaemon();
    const redis = daemon.redis();
    const one = String(await redis.call('PUTMULTIBIN', '', '-1', 'k', 'one'));
    const two = String(await redis.call('PUTMULTIBIN', '', '-1', 'k', 'two'));
    const replies = await pipeline(redis, [
      put(one, 1), put(one, 2),
      ['VARSET', 'v', one], ['FETCHBIN', '^v', 'k'], put(one, 3),
      ['VARSET', 'v', two], ['FETCHBIN', '^v', 'k'], ['PUTMULTIBIN', '^v', '-1', 'k', 'three'],
      ['VARGET', 'v'],
    ]);
    expect(replies.map((r) => r?.toString())).toEqual([
      expect.any(String), expect.any(String), 'OK', 'one', expect.any(String), 'OK', 'two', expect.any(String), two,
    ]);
    expect(String(await redis.callBuffer('FETCHBIN', String(replies[7]), 'k'))).toBe('three');
  }, 60_000);

  it('interleave cached reads behind pending writes in order, the reads sharing reply buffers between the writes', async () => {
    const daemon = await startDaemon();
    const redis = daemon.redis();
    const base = String(await redis.call('PUTMULTIBIN', '', '-1', 'base', 'b'));
    // Runs of reads (synchronous: the tree is cached) between writes (each waits for its sync).
    const commands: string[][] = [];
    for (let i = 0; i < 40; i++) {
      commands.push(put(base, i));
      for (let j = 0; j < i % 5; j++) commands.push(['FETCHBIN', base, j % 2 === 0 ? 'base' : `k${i}`]);
    }
    const replies = await pipeline(redis, commands);
    const roots: string[] = [];
    replies.forEach((reply, at) => {
      const [name, , key] = commands[at];
      if (name === 'PUTMULTIBIN') roots.push(String(reply));
      else expect(reply?.toString() ?? null, `reply ${at}`).toBe(key === 'base' ? 'b' : null);
    });
    const values = await pipeline(redis, roots.map((root, i) => ['FETCHBIN', root, `k${i}`]));
    expect(values.map(String)).toEqual(roots.map((_, i) => `v${i}`));
  }, 60_000);

  it('reply in order when some fail, and the rest still land', async () => {
    const daemon = await startDaemon();
    const redis = daemon.redis();
    const base = String(await redis.call('PUTMULTIBIN', '', '-1', 'base', 'b'));
    const p = redis.pipeline();
    p.callBuffer(...(put(base, 0) as [string, ...string[]]));
    p.callBuffer('PUTMULTIBIN', base, 'soon', 'k', 'v');
    p.callBuffer('FETCHBIN', 'not-a-tree', 'k');
    p.callBuffer(...(put(base, 3) as [string, ...string[]]));
    const results = (await p.exec()) ?? [];
    expect(results[1][0]).toMatchObject({ message: expect.stringContaining('invalid TTL') });
    expect(results[2][0]).toMatchObject({ message: expect.stringContaining('BADID') });
    expect(String(await redis.callBuffer('FETCHBIN', String(results[0][1]), 'k0'))).toBe('v0');
    expect(String(await redis.callBuffer('FETCHBIN', String(results[3][1]), 'k3'))).toBe('v3');
  }, 60_000);

  it('answer every command before a malformed frame, in order, then the protocol error, then close', async () => {
    const daemon = await startDaemon();
    const base = String(await daemon.redis().call('PUTMULTIBIN', '', '-1', 'base', 'b'));
    const got = await exchange(daemon.port, [0, 1, 2].map((i) => frame(put(base, i))).join('') + '*x\r\n');
    const lines = got.split('\r\n');
    expect(lines.filter((l) => l.startsWith('$'))).toEqual(['$46', '$46', '$46']);
    expect(lines.at(-2)).toBe("-ERR Protocol error: invalid multibulk length");
    const roots = lines.filter((l) => l.startsWith('Qm'));
    const check = daemon.redis();
    for (const [i, root] of roots.entries()) expect(String(await check.callBuffer('FETCHBIN', root, `k${i}`))).toBe(`v${i}`);
  }, 60_000);

  it('lose none of their acknowledged writes to kill -9 right after the replies', async () => {
    const daemon = await startDaemon();
    for (let round = 0; round < 3; round++) {
      const redis = daemon.redis({ maxRetriesPerRequest: 0 });
      const base = String(await redis.call('PUTMULTIBIN', '', '-1', 'round', String(round)));
      const n = 300;
      const roots = (await pipeline(redis, Array.from({ length: n }, (_, i) => put(base, i)))).map(String);
      expect((await daemon.kill('SIGKILL')).signal).toBe('SIGKILL');
      redis.disconnect();
      await daemon.restart();
      const check = daemon.redis();
      const values = await pipeline(check, roots.map((root, i) => ['FETCHBIN', root, `k${i}`]));
      const lost = values.map((v, i) => (v?.toString() === `v${i}` ? -1 : i)).filter((i) => i >= 0);
      expect(lost, `round ${round}: lost ${lost.length} of ${n} acknowledged writes`).toEqual([]);
      check.disconnect();
    }
  }, 120_000);
});
