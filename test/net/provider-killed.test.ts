import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

const VALUES = 160;
const MIB = 1024 * 1024;

describe('a provider killed mid-clone', { timeout: 240_000 }, () => {
  const cluster = newCluster();
  let a1: TestDaemon;
  let a2: TestDaemon;
  let b: TestDaemon;
  let root: string;

  beforeAll(async () => {
    [a1, a2, b] = await startDaemons(3, { args: ['--log-level', 'info', '--overlay', 'off'] });
    const addr = await joinCluster(a1, cluster);
    await joinCluster(a2, { ...cluster, bootstrap: [addr] });
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    root = '';
    // Big enough that the clone is still moving blobs when the kill lands: 160 MiB in 1 MiB values.
    for (let i = 0; i < VALUES; i += 16) {
      const pairs = Array.from({ length: 16 }, (_, j) => [`v${String(i + j).padStart(3, '0')}`, randomBytes(MIB)]).flat();
      root = String(await a1.redis().call('PUTMULTIBIN', root, '-1', ...pairs));
    }
    expect(await a1.redis().call('ANNOUNCE', cluster.name, root, '-1')).toBe('OK');
    await poll(async () => ((await clusterInfo(a2.redis(), cluster.name))?.peers !== '0' ? true : undefined));
    await poll(async () => (await a2.redis().call('REMOTE', cluster.name, '1', 'PERSIST', root, '-1')) ?? undefined);
    expect(await a2.redis().call('ANNOUNCE', cluster.name, root, '-1')).toBe('OK');
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '2' ? true : undefined));
  }, 200_000);
  afterAll(cleanupDaemons);

  it('REMOTE c 2 PERSIST completes from the other provider', async () => {
    const rb = b.redis();
    const servedBefore = Number((await clusterInfo(a1.redis(), cluster.name))?.bytes_served);
    const cloning = rb.call('REMOTE', cluster.name, '2', 'PERSIST', root, '-1') as Promise<Array<string | number>>;
    // Kill A1 the moment it has started sending this clone its share.
    await poll(async () => (Number((await clusterInfo(a1.redis(), cluster.name))?.bytes_served) > servedBefore ? true : undefined), 2000, 5);
    await a1.kill('SIGKILL');
    const report = await cloning;
    expect(report[0]).toBe('blocks');
    expect(await rb.call('KEYCOUNT', root)).toBe(VALUES);
    const last = `v${String(VALUES - 1).padStart(3, '0')}`;
    expect(Buffer.from(await rb.callBuffer('FETCHBIN', root, last) as Buffer).length).toBe(MIB);
    // A1's share was moved to A2: proof the kill landed mid-clone, not after it.
    expect(b.stderr()).toContain('provider dropped; its share goes to the others');
    const info = await clusterInfo(rb, cluster.name);
    expect(Number(info?.bytes_fetched)).toBeGreaterThanOrEqual(VALUES * MIB);
    expect(info?.fetches_in_flight).toBe('0');
  });
});
