import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { eventually, member } from './helpers.ts';

const PROTO = '/crisscross-test/sink/1.0.0';
const CHUNK = 64 * 1024;

describe('the cluster connection protector', { timeout: 180_000 }, () => {
  const nodes: ClusterNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  it('carries a long transfer intact (the case @libp2p/pnet reset)', async () => {
    const cluster = newCluster();
    const a = await member(cluster);
    nodes.push(a);
    const b = await member({ ...cluster, bootstrap: a.multiaddrs() });
    nodes.push(b);
    const received = new Promise<string>((resolve, reject) => {
      void a.libp2p.handle(PROTO, async (stream) => {
        try {
          const h = createHash('sha256');
          for await (const chunk of stream) h.update(chunk.subarray());
          resolve(h.digest('hex'));
          await stream.close();
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    expect(await eventually(async () => b.libp2p.getConnections(a.peerId).length > 0)).toBe(true);
    const stream = await b.libp2p.dialProtocol(a.peerId, PROTO, { signal: AbortSignal.timeout(10_000) });
    const sent = createHash('sha256');
    const total = 192 * 1024 * 1024;
    let counter = 0;
    for (let off = 0; off < total; off += CHUNK) {
      // Distinct content per chunk, so a dropped or repeated chunk changes the digest.
      const buf = Buffer.alloc(CHUNK, counter++ & 0xff);
      buf.writeUInt32BE(counter, 0);
      sent.update(buf);
      if (!stream.send(buf)) await stream.onDrain({ signal: AbortSignal.timeout(30_000) });
    }
    await stream.close({ signal: AbortSignal.timeout(30_000) });
    expect(await received).toBe(sent.digest('hex'));
  });
});
