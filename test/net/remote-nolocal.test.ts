import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

/** Blocks and blobs the daemon's store wrote so far (INFO store). */
async function written(d: TestDaemon): Promise<number> {
  const text = String(await d.redis().call('INFO', 'store'));
  const field = (k: string): number => Number(new RegExp(`${k}:(\\d+)`).exec(text)?.[1]);
  return field('store_blocks_written') + field('store_blobs_written');
}

const N = 3000;
const key = (i: number): string => `k${String(i).padStart(5, '0')}`;

describe('REMOTENOLOCAL, and iterators over remote trees', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let root: string;

  beforeAll(async () => {
    [a, b] = await startDaemons(2, { args: ['--overlay', 'off'] });
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    const pairs = Array.from({ length: N }, (_, i) => [key(i), `v${i}${i % 500 === 0 ? 'y'.repeat(40_000) : ''}`]).flat();
    root = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...pairs));
    expect(await a.redis().call('ANNOUNCE', cluster.name, root, '-1')).toBe('OK');
    await poll(async () => (await b.redis().call('REMOTENOLOCAL', cluster.name, '1', 'HASKEYBIN', root, key(1))) === 1 || undefined);
  }, 120_000);
  afterAll(cleanupDaemons);

  it('REMOTENOLOCAL reads write nothing to the local store', async () => {
    const rb = b.redis();
    const before = await written(b);
    expect(String(await rb.call('REMOTENOLOCAL', cluster.name, '1', 'FETCHBIN', root, key(1500)))).toBe(`v1500${'y'.repeat(40_000)}`);
    expect(await rb.call('REMOTENOLOCAL', cluster.name, '1', 'KEYCOUNT', root)).toBe(N);
    const r = await cli(['remote_get', '--no-local', cluster.name, root, key(7)], { env: daemonEnv(b) });
    expect(r.stdout.toString()).toBe('v7');
    expect(await written(b)).toBe(before);
    await expect(rb.call('FETCHBIN', root, key(1500))).rejects.toThrow(/NOTFOUND/);
    await expect(rb.call('REMOTENOLOCAL', cluster.name, '1', 'PERSIST', root, '-1')).rejects.toThrow(/REMOTENOLOCAL does not clone/);
  });

  it('REMOTE keeps the blocks it fetched below the root: after a restart the same read fetches the root alone', async () => {
    const value = `v2000${'y'.repeat(40_000)}`;
    const before = await written(b);
    expect(String(await b.redis().call('REMOTE', cluster.name, '1', 'FETCHBIN', root, key(2000)))).toBe(value);
    expect(await written(b)).toBeGreaterThan(before);
    // The partial tree does not pass for a local one.
    await expect(b.redis().call('FETCHBIN', root, key(2000))).rejects.toThrow(/NOTFOUND/);
    await b.stop();
    await b.restart();
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    expect(String(await poll(async () => (await b.redis().call('REMOTE', cluster.name, '1', 'FETCHBIN', root, key(2000))) ?? undefined))).toBe(value);
    expect((await clusterInfo(b.redis(), cluster.name))?.blocks_fetched).toBe('1');
  });

  it('REMOTE … SCANTREEBIN pages through a remote tree', async () => {
    const rb = b.redis();
    const seen: string[] = [];
    let cursor = '0';
    do {
      const [next, pairs] = (await rb.call('REMOTENOLOCAL', cluster.name, '1', 'SCANTREEBIN', root, cursor, 'MIN', key(100), 'COUNT', '400')) as [Buffer, Buffer[]];
      for (let i = 0; i < pairs.length; i += 2) seen.push(String(pairs[i]));
      cursor = String(next);
    } while (cursor !== '0');
    expect(seen).toEqual(Array.from({ length: N - 100 }, (_, i) => key(i + 100)));
    const [, rev] = (await rb.call('REMOTE', cluster.name, '1', 'SCANTREEBIN', root, '0', 'REV', 'COUNT', '2')) as [Buffer, Buffer[]];
    expect(rev.map(String)).toEqual([key(N - 1), `v${N - 1}`, key(N - 2), `v${N - 2}`]);
  });

  it('REMOTE … ITERSTART opens the connection\'s iterator on the remote tree; ITERNEXT fetches as it goes', async () => {
    const rb = b.redis();
    expect(await rb.call('REMOTENOLOCAL', cluster.name, '1', 'ITERSTART', root)).toBe('OK');
    let count = 0;
    for (;;) {
      const page = (await rb.call('ITERNEXT', '1000')) as Buffer[];
      if (page.length === 0) break;
      count += page.length / 2;
    }
    expect(count).toBe(N);
    expect(await rb.call('ITERSTOP')).toBe('OK');
    // The range form: typed (msgpack) bounds, as for the local command; keys written by PUTMULTIBIN are bytes.
    const msgpackBin = (s: string): Buffer => Buffer.concat([Buffer.of(0xc4, s.length), Buffer.from(s)]);
    expect(await rb.call('REMOTE', cluster.name, '1', 'ITERSTART', root, msgpackBin(key(10)), msgpackBin(key(12)), '1', '1', '1')).toBe('OK');
    const page = (await rb.call('ITERNEXT', '10')) as Buffer[];
    expect(page).toHaveLength(6);
  });
});
