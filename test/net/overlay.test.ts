import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster, renderCluster } from '../../src/net/cluster-file.ts';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { OVERLAY_NAME, overlayCluster } from '../../src/net/overlay.ts';
import { RENDEZVOUS_PROTOCOL, epochOf, openAddrs, rendezvousKey } from '../../src/net/rendezvous.ts';
import { member } from './helpers.ts';
import { type TestDaemon, cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, poll } from './cluster-daemons.ts';

const peersOf = async (d: TestDaemon, name: string): Promise<number> => Number((await clusterInfo(d.redis(), name))?.peers ?? 0);

describe('the default overlay and rendezvous of private clusters', { timeout: 180_000 }, () => {
  let a: TestDaemon;
  let b: TestDaemon;
  let overlayAddr: string;

  beforeAll(async () => {
    a = await startDaemon({ args: ['--log-level', 'debug'] });
    overlayAddr = (await poll(() => clusterInfo(a.redis(), OVERLAY_NAME))).listen.split('|')[0];
    // B knows of A's overlay node only: no Bootstrap entry of any private cluster.
    b = await startDaemon({ args: ['--log-level', 'debug', '--bootstrap', overlayAddr] });
    await poll(async () => ((await peersOf(b, OVERLAY_NAME)) >= 1 ? true : undefined));
  }, 60_000);
  afterAll(cleanupDaemons);

  it('members of a private cluster without Bootstrap entries meet through the overlay', async () => {
    const cluster = newCluster();
    expect(cluster.bootstrap).toEqual([]);
    await writeFile(join(a.clustersDir, 'private.yaml'), renderCluster(cluster));
    await writeFile(join(b.clustersDir, 'private.yaml'), renderCluster(cluster));
    await poll(async () => ((await peersOf(b, cluster.name)) === 1 && (await peersOf(a, cluster.name)) === 1 ? true : undefined), 150);
    // A member found this way is a member like any other: announce on A, read on B.
    const root = String(await a.redis().call('PUTMULTIBIN', '', '-1', 'met', 'through the overlay'));
    expect(await a.redis().call('ANNOUNCE', cluster.name, root, '-1')).toBe('OK');
    const v = await poll(async () => (await b.redis().call('REMOTE', cluster.name, '1', 'FETCHBIN', root, 'met')) ?? undefined);
    expect(String(v)).toBe('through the overlay');
    // The rendezvous is the only way they could have met: no Bootstrap entry, no other discovery.
    // Either may have dialled the other (both look the key up), and it logs once its dial returns.
    const met = await poll(async () => ([a, b].some((d) => d.stderr().includes('met a member through the overlay')) ? true : undefined), 50);
    expect(met).toBe(true);
  });

  it('an overlay peer that saw a rendezvous key gets ciphertext only, and nothing for another key', async () => {
    const cluster = newCluster();
    await writeFile(join(a.clustersDir, 'observed.yaml'), renderCluster(cluster));
    const listen = (await poll(() => clusterInfo(a.redis(), cluster.name))).listen;
    const port = /\/tcp\/(\d+)\//.exec(listen)![1];
    // A plain overlay node, not a member: it may see K on the overlay DHT, never the Cypher.
    const observer = await member(overlayCluster([]));
    try {
      const ask = async (key: Buffer): Promise<Buffer> => {
        const stream = await observer.libp2p.dialProtocol(multiaddr(overlayAddr), RENDEZVOUS_PROTOCOL, { signal: AbortSignal.timeout(10_000) });
        const lp = lpStream(stream);
        await lp.write(key, { signal: AbortSignal.timeout(10_000) });
        return Buffer.from((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray());
      };
      const epoch = epochOf(Date.now());
      const sealed = await ask(rendezvousKey(cluster.cypher, epoch));
      expect(sealed.length).toBeGreaterThan(28);
      expect(sealed.includes(Buffer.from(port))).toBe(false);
      expect(sealed.includes(Buffer.from(cluster.name))).toBe(false);
      expect(openAddrs(newCluster().cypher, epoch, sealed)).toBeUndefined();
      expect(openAddrs(cluster.cypher, epoch, sealed)).toEqual(listen.split('|'));
      expect(await ask(rendezvousKey(newCluster().cypher, epoch))).toHaveLength(0);
    } finally {
      await observer.stop();
    }
  });

  it('members of different clusters do not meet', async () => {
    const mine = newCluster();
    const theirs = newCluster();
    await writeFile(join(a.clustersDir, 'mine.yaml'), renderCluster(mine));
    await writeFile(join(b.clustersDir, 'theirs.yaml'), renderCluster(theirs));
    // Both looked their keys up on the overlay (current and previous epoch), and nobody answered.
    const looked = (d: TestDaemon, name: string): boolean => d.stderr().split('\n').filter((l) => l.includes('rendezvous lookup done') && l.includes(name)).length >= 2;
    await poll(async () => (looked(a, mine.name) && looked(b, theirs.name) ? true : undefined), 150);
    expect(await peersOf(a, mine.name)).toBe(0);
    expect(await peersOf(b, theirs.name)).toBe(0);
  });

  it('^defaultcluster names the overlay in RESP and in the CLI: announce there, read from another node', async () => {
    const root = String(await a.redis().call('PUTMULTIBIN', '', '3600000', 'public', 'hello overlay'));
    expect(await a.redis().call('ANNOUNCE', '^defaultcluster', root, '3600000')).toBe('OK');
    expect(await a.redis().call('HASANNOUNCED', '^defaultcluster', root)).toBe(1);
    expect(await a.redis().call('HASANNOUNCED', OVERLAY_NAME, root)).toBe(1);
    const v = await poll(async () => (await b.redis().call('REMOTE', '^defaultcluster', '1', 'FETCHBIN', root, 'public')) ?? undefined);
    expect(String(v)).toBe('hello overlay');
    const r = await cli(['remote_get', '^defaultcluster', root, 'public'], { env: daemonEnv(b) });
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('hello overlay');
  });

  it('--overlay off runs no overlay, and ^defaultcluster says so', async () => {
    const c = await startDaemon({ args: ['--overlay', 'off'] });
    expect(await clusterInfo(c.redis(), OVERLAY_NAME)).toBeUndefined();
    await expect(c.redis().call('REMOTE', '^defaultcluster', '1', 'KEYCOUNT', '')).rejects.toThrow(/NOCLUSTER the default overlay is off/);
    await c.stop();
  });
});
