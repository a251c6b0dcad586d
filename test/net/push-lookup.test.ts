import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { closestPeers } from '../../src/net/push-transfer.ts';
import { idOf } from '../../src/store/id.ts';
import { eventually, member } from './helpers.ts';

/** Kademlia's keyspace: SHA-256 of the key (a root's multihash, a peer id's multihash). */
const kad = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();
const distance = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]));

describe('who a push asks', { timeout: 180_000 }, () => {
  const nodes: ClusterNode[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('the lookup returns the k members closest to the root, never the pusher', async () => {
    const cluster = newCluster();
    const first = await member(cluster);
    nodes.push(first);
    for (let i = 1; i < 10; i++) nodes.push(await member({ ...cluster, bootstrap: first.multiaddrs() }));
    // Every member has met the first one; the lookups below find the rest through it.
    expect(await eventually(async () => first.routingTableSize() === nodes.length - 1, 300)).toBe(true);
    for (const [pusher, root] of [[nodes[0], idOf(Buffer.from('one root'))], [nodes[7], idOf(Buffer.from('another'))]] as const) {
      const target = kad(root);
      const want = nodes.filter((n) => n !== pusher)
        .map((n) => ({ id: n.peerId.toString(), d: distance(kad(n.peerId.toMultihash().bytes), target) }))
        .sort((x, y) => Buffer.compare(x.d, y.d))
        .slice(0, 3)
        .map((x) => x.id);
      let got: string[] = [];
      expect(await eventually(async (signal) => {
        got = (await closestPeers(pusher, root, 3, signal)).map((p) => p.toString());
        return got.join() === want.join();
      }), `got ${got.join()} want ${want.join()}`).toBe(true);
    }
  });
});
