import { afterAll, describe, expect, it } from 'vitest';
import { rootCid } from '../../src/net/announce.ts';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { idOf } from '../../src/store/id.ts';
import { eventually, member } from './helpers.ts';

describe('a 12-node in-process cluster', { timeout: 180_000 }, () => {
  const nodes: ClusterNode[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('finds the providers of a root from any member, through a single bootstrap peer', async () => {
    const cluster = newCluster();
    const first = await member(cluster);
    nodes.push(first);
    for (let i = 1; i < 12; i++) nodes.push(await member({ ...cluster, bootstrap: first.multiaddrs() }));
    expect(await eventually(async () => nodes.every((n) => n.routingTableSize() > 0))).toBe(true);
    const cid = rootCid(idOf(Buffer.from('a root')));
    const providers = [nodes[3], nodes[11]];
    for (const p of providers) await p.libp2p.contentRouting.provide(cid, { signal: AbortSignal.timeout(20_000) });
    const want = providers.map((p) => p.peerId.toString()).sort();
    for (const seeker of [nodes[0], nodes[6], nodes[9]]) {
      expect(await eventually(async (signal) => {
        const found = new Set<string>();
        for await (const p of seeker.libp2p.contentRouting.findProviders(cid, { signal })) {
          found.add(p.id.toString());
          if (found.size === want.length) break;
        }
        return [...found].sort().join() === want.join();
      })).toBe(true);
    }
  });
});
