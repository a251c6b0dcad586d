import { afterEach, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { newSecret } from '../../src/net/identity.ts';
import { ClusterNode } from '../../src/net/node.ts';
import { eventually, member, quiet } from './helpers.ts';

describe('ClusterNode', { timeout: 60_000 }, () => {
  const nodes: ClusterNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  async function start(...args: Parameters<typeof member>): Promise<ClusterNode> {
    const n = await member(...args);
    nodes.push(n);
    return n;
  }

  it('members find each other through Bootstrap and the DHT', async () => {
    const cluster = newCluster();
    const a = await start(cluster);
    expect(a.multiaddrs()[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.peerId.toString()}$`));
    const withBootstrap = { ...cluster, bootstrap: a.multiaddrs() };
    const b = await start(withBootstrap);
    const c = await start(withBootstrap);
    // b never dialled c: it learns c's address from a's routing table, then connects to it.
    expect(await eventually(async (signal) => {
      const found = await b.libp2p.peerRouting.findPeer(c.peerId, { signal });
      await b.libp2p.dial(found.multiaddrs, { signal });
      return true;
    })).toBe(true);
    expect(b.libp2p.getConnections(c.peerId).length).toBeGreaterThan(0);
    expect(await eventually(async () => b.routingTableSize() >= 2)).toBe(true);
    expect(b.info()).toMatch(/^listen=\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+,peers=2,routing_table=2$/);
  });

  it('a node with another Cypher cannot connect and learns nothing', async () => {
    const cluster = newCluster();
    const a = await start(cluster);
    const b = await start({ ...cluster, bootstrap: a.multiaddrs() });
    expect(await eventually(async () => a.libp2p.getConnections(b.peerId).length > 0)).toBe(true);

    const outsider = await start({ ...newCluster(), bootstrap: a.multiaddrs() });
    await expect(outsider.libp2p.dial(a.libp2p.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    await outsider.bootstrap();
    expect(outsider.libp2p.getConnections()).toHaveLength(0);
    expect(a.libp2p.getConnections().map((c) => c.remotePeer.toString())).toEqual([b.peerId.toString()]);
    expect(outsider.routingTableSize()).toBe(0);
    const known = (await outsider.libp2p.peerStore.all()).map((p) => p.id.toString());
    // All it knows is the address it was handed: no member's, and no protocol a member speaks.
    expect(known.filter((p) => p !== a.peerId.toString())).toEqual([]);
    expect((await outsider.libp2p.peerStore.get(a.peerId)).protocols).toEqual([]);
  });

  it('one node secret gives unrelated peer ids in two clusters', async () => {
    const secret = newSecret();
    const x = await ClusterNode.start({ cluster: newCluster(), nodeSecret: secret, host: '127.0.0.1', port: 0, logger: quiet });
    nodes.push(x);
    const y = await ClusterNode.start({ cluster: newCluster(), nodeSecret: secret, host: '127.0.0.1', port: 0, logger: quiet });
    nodes.push(y);
    expect(x.peerId.toString()).not.toBe(y.peerId.toString());
    expect(x.port).not.toBe(y.port);
  });
});
