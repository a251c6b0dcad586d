import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootCid } from '../../src/net/announce.ts';
import { BlockService, type BlockServiceComponents } from '../../src/net/blocks.ts';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { parseId } from '../../src/store/id.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';
import { member, quiet } from './helpers.ts';

/** Fault injection lives here, in test code: a member that serves every block with one byte flipped. */
function lyingBlocks(components: BlockServiceComponents): BlockService {
  const flip = (b: Uint8Array | undefined): Uint8Array => {
    const out = Buffer.from(b ?? Buffer.from('made up'));
    out[out.length - 1] ^= 0xff;
    return out;
  };
  return new BlockService(components, {
    store: { getBlock: async () => flip(undefined), getBlocks: async (ids) => ids.map(() => flip(undefined)), getBlob: async () => flip(undefined) },
    isServed: () => true,
    logger: quiet,
  });
}

describe('a lying provider', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let liar: ClusterNode<{ blocks: BlockService }>;
  let root: string;

  beforeAll(async () => {
    [a, b] = await startDaemons(2, { args: ['--log-level', 'info'] });
    const addr = await joinCluster(a, cluster);
    const pairs = Array.from({ length: 3000 }, (_, i) => [`k${i}`, `v${i}`]).flat();
    root = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...pairs));
    expect(await a.redis().call('ANNOUNCE', cluster.name, root, '-1')).toBe('OK');
    liar = await member({ ...cluster, bootstrap: [addr] }, { blocks: lyingBlocks });
    await poll(async () => (liar.libp2p.getConnections().length > 0 ? true : undefined));
    await liar.libp2p.contentRouting.provide(rootCid(parseId(root)), { signal: AbortSignal.timeout(20_000) });
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '2' ? true : undefined));
  }, 120_000);
  afterAll(async () => {
    await liar?.stop();
    await cleanupDaemons();
  });

  it('is dropped on its first bad block and the clone completes from the honest one', async () => {
    const rb = b.redis();
    const report = (await rb.call('REMOTE', cluster.name, '2', 'PERSIST', root, '-1')) as Array<string | number>;
    expect(Number(report[1])).toBe(Number(report[3]));
    expect(await rb.call('KEYCOUNT', root)).toBe(3000);
    expect(String(await rb.call('FETCHBIN', root, 'k2999'))).toBe('v2999');
    expect(b.stderr()).toContain('dropped a peer that sent a bad block');
    expect(b.stderr()).toContain(liar.peerId.toString());
  });
});
