import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

/** 3 MiB of incompressible, reproducible bytes: several content-defined chunks, each a blob. */
function content(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < 3 * 1024 * 1024; i++) parts.push(createHash('sha256').update(`chunk ${i}`).digest());
  return Buffer.concat(parts);
}

describe('remote files, directories and diffs', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let dir: string;
  let file: string;
  const bytes = content();

  beforeAll(async () => {
    [a, b] = await startDaemons(2);
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    const ra = a.redis();
    await ra.call('FILEBEGIN');
    for (let o = 0; o < bytes.length; o += 1024 * 1024) await ra.call('FILEWRITE', bytes.subarray(o, o + 1024 * 1024));
    file = String(await ra.call('FILEEND', '-1'));
    dir = String(await ra.call('DIRPUT', '', '-1', 'docs/big.bin', file, 'empty/', ''));
    // Only the directory is announced: the file is served because the directory links to it.
    expect(await ra.call('ANNOUNCE', cluster.name, dir, '-1')).toBe('OK');
  }, 120_000);
  afterAll(cleanupDaemons);

  it('lists a remote directory and reads a file it links to, fetching only what is read', async () => {
    const rb = b.redis();
    const listing = await poll(async () => (await rb.call('REMOTE', cluster.name, '1', 'DIRLIST', dir)) as unknown[]);
    expect(listing.map((e) => String((e as unknown[])[0]))).toEqual(['docs/', 'docs/big.bin', 'empty/']);
    expect(await rb.call('REMOTE', cluster.name, '1', 'FILESIZE', file)).toBe(bytes.length);
    const piece = (await rb.callBuffer('REMOTE', cluster.name, '1', 'FILEREAD', file, '1000000', '5000')) as Buffer;
    expect(piece.equals(bytes.subarray(1_000_000, 1_005_000))).toBe(true);
    const fetched = Number((await clusterInfo(b.redis(), cluster.name))?.bytes_fetched);
    expect(fetched).toBeLessThan(bytes.length);
  });

  it('diffs two remote trees', async () => {
    const ra = a.redis();
    const x = String(await ra.call('PUTMULTIBIN', '', '-1', 'k1', 'a', 'k2', 'b'));
    const y = String(await ra.call('PUTMULTIBIN', x, '-1', 'k2', 'c'));
    await ra.call('ANNOUNCE', cluster.name, x, '-1');
    await ra.call('ANNOUNCE', cluster.name, y, '-1');
    const d = await poll(async () => (await b.redis().call('REMOTE', cluster.name, '1', 'DIFF', x, y)) as unknown[]);
    expect(d).toHaveLength(1);
  });

  it('a clone of the directory brings the linked file along', async () => {
    const rb = b.redis();
    await rb.call('REMOTE', cluster.name, '1', 'PERSIST', dir, '-1');
    const whole = (await rb.callBuffer('FILEREAD', file, '0', String(bytes.length))) as Buffer;
    expect(whole.equals(bytes)).toBe(true);
  });
});
