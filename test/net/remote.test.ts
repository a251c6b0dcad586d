import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { join } from 'node:path';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

describe('announce and remote reads between daemons', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let root: string;

  beforeAll(async () => {
    [a, b] = await startDaemons(2, { args: ['--log-level', 'info'] });
    const addr = await joinCluster(a, cluster);
    // B learns of the cluster while running, with A as its bootstrap peer.
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    const pairs = Array.from({ length: 2000 }, (_, i) => [`key${i}`, `value ${i} ${'x'.repeat(i % 3 === 0 ? 2000 : 10)}`]).flat();
    root = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...pairs));
  }, 120_000);
  afterAll(cleanupDaemons);

  it('ANNOUNCE provides a tree that B reads remotely without holding it', async () => {
    const ra = a.redis();
    const rb = b.redis();
    expect(await ra.call('HASANNOUNCED', cluster.name, root)).toBe(0);
    expect(await ra.call('ANNOUNCE', cluster.name, root, '-1')).toBe('OK');
    expect(await ra.call('HASANNOUNCED', cluster.name, root)).toBe(1);
    await expect(rb.call('FETCHBIN', root, 'key1')).rejects.toThrow(/NOTFOUND/);
    const v = await poll(async () => (await rb.call('REMOTE', cluster.name, '1', 'FETCHBIN', root, 'key7')) ?? undefined);
    expect(String(v)).toBe('value 7 xxxxxxxxxx');
    expect(String(await rb.call('REMOTE', cluster.name, '1', 'FETCHBIN', root, 'key3'))).toBe(`value 3 ${'x'.repeat(2000)}`);
    expect(await rb.call('REMOTE', cluster.name, '1', 'KEYCOUNT', root)).toBe(2000);
    expect(await rb.call('REMOTE', cluster.name, '1', 'HASKEYBIN', root, 'nope')).toBe(0);
    expect((await rb.call('REMOTE', cluster.name, '1', 'GETMULTIBIN', root, 'key0', 'key1999') as Buffer[]).map(String)).toEqual([`value 0 ${'x'.repeat(2000)}`, 'value 1999 xxxxxxxxxx']);
    await expect(rb.call('REMOTE', cluster.name, '1', 'PUTMULTIBIN', root, '-1', 'k', 'v')).rejects.toThrow(/REMOTE runs/);
    await expect(rb.call('FETCHBIN', root, 'key1')).rejects.toThrow(/NOTFOUND/);
  });

  it('REMOTE … PERSIST clones the tree onto B, which then reads it locally', async () => {
    const rb = b.redis();
    const report = (await rb.call('REMOTE', cluster.name, '2', 'PERSIST', root, '-1')) as Array<string | number>;
    expect(report[0]).toBe('blocks');
    expect(Number(report[3])).toBeGreaterThan(0);
    expect(String(await rb.call('FETCHBIN', root, 'key1234'))).toBe('value 1234 xxxxxxxxxx');
    expect(await rb.call('KEYCOUNT', root)).toBe(2000);
    // Nothing left to fetch: a second clone reads everything locally.
    const again = (await rb.call('REMOTE', cluster.name, '2', 'PERSIST', root, '-1')) as Array<string | number>;
    expect(again[3]).toBe(0);
    const info = await clusterInfo(a.redis(), cluster.name);
    expect(Number(info?.blocks_served)).toBeGreaterThan(0);
  });

  it('serves only announced content, and an unknown cluster is an error', async () => {
    const other = String(await a.redis().call('PUTMULTIBIN', '', '-1', 'secret', 'data'));
    await expect(b.redis().call('REMOTE', cluster.name, '1', 'FETCHBIN', other, 'secret')).rejects.toThrow(/NOTFOUND|MISSINGBLOCK/);
    await expect(b.redis().call('REMOTE', 'NoSuchCluster', '1', 'KEYCOUNT', root)).rejects.toThrow(/NOCLUSTER/);
  });

  it('a restarted daemon keeps announcing, on the same port', async () => {
    const fresh = String(await a.redis().call('PUTMULTIBIN', '', '-1', 'after', 'restart'));
    expect(await a.redis().call('ANNOUNCE', cluster.name, fresh, '3600000')).toBe('OK');
    const before = (await clusterInfo(a.redis(), cluster.name))?.listen;
    await a.stop();
    await a.restart();
    const info = await poll(() => clusterInfo(a.redis(), cluster.name));
    expect(info.listen).toBe(before);
    expect(await a.redis().call('HASANNOUNCED', cluster.name, fresh)).toBe(1);
    const v = await poll(async () => (await b.redis().call('REMOTE', cluster.name, '1', 'FETCHBIN', fresh, 'after')) ?? undefined);
    expect(String(v)).toBe('restart');
  });

  it('the CLI announces, reads remotely and clones, naming the cluster by *file#Name', async () => {
    const tree = String(await a.redis().call('PUTMULTIBIN', '', '-1', 'cli', 'works'));
    const name = `*${join(a.clustersDir, 'test.yaml')}#Name`;
    expect((await cli(['announce', name, tree], { env: daemonEnv(a) })).code).toBe(0);
    const got = await poll(async () => {
      const r = await cli(['remote_get', name, tree, 'cli'], { env: daemonEnv(b) });
      return r.code === 0 ? r.stdout.toString() : undefined;
    });
    expect(got).toBe('works');
    const cloned = await cli(['remote_persist', '--num', '2', name, tree], { env: daemonEnv(b) });
    expect(cloned.stderr).toBe('');
    expect(cloned.stdout.toString()).toMatch(new RegExp(`^${tree}: 1 blocks, 1 fetched \\(\\d+ bytes\\)\n$`));
    expect(String(await b.redis().call('FETCHBIN', tree, 'cli'))).toBe('works');
  });
});
