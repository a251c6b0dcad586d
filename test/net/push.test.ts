import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, newCluster } from '../../src/net/cluster-file.ts';
import { newKeyPair } from '../../src/net/identity.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { type PushRequest, newPushRequest, pushBody, requestFrame, signPush } from '../../src/net/push-message.ts';
import { type PushService, pushService } from '../../src/net/push.ts';
import { parseId } from '../../src/store/id.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';
import { member, quiet } from './helpers.ts';

const MAX_TTL = 3_600_000;
const MAX_SIZE = 300_000;

function withoutKey(c: Cluster): Cluster {
  const { privateKey, ...rest } = c;
  return privateKey === undefined ? c : rest;
}

function peerOf(listen: string): string {
  return listen.slice(listen.lastIndexOf('/p2p/') + 5);
}

async function fetched(d: TestDaemon, name: string): Promise<number> {
  return Number((await clusterInfo(d.redis(), name))?.bytes_fetched);
}

/**
 * Four daemons: A holds the cluster's PrivateKey and pushes; B (whose file lacks the key), C
 * and D receive, with MaxTTL 1 h and MaxAcceptedSize 300 kB. E joins only at the end, to read
 * what was pushed once A is gone. Hand-built requests (forged, replayed, lying about the size)
 * come from an in-process member: fault injection stays in test code.
 */
describe('push', { timeout: 240_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let c: TestDaemon;
  let d: TestDaemon;
  let e: TestDaemon;
  const addr: Record<string, string> = {};
  /** ~3 kB, fits every limit; announced by A for the hand-built requests. */
  let small: string;
  /** ~600 kB: over the receivers' MaxAcceptedSize. */
  let big: string;
  let m: ClusterNode<{ push: PushService }> | undefined;
  let pushed = '';

  beforeAll(async () => {
    [a, b, c, d, e] = await startDaemons(5, { args: ['--log-level', 'info', '--gc-grace-ms', '1000'] });
    addr.a = await joinCluster(a, cluster);
    const receiver = { ...withoutKey(cluster), maxTtlMs: MAX_TTL, maxAcceptedSize: MAX_SIZE, bootstrap: [addr.a] };
    [addr.b, addr.c, addr.d] = await Promise.all([joinCluster(b, receiver), joinCluster(c, { ...receiver, privateKey: cluster.privateKey }), joinCluster(d, receiver)]);
    // The lookup finds only peers in A's routing table: wait for all three.
    await poll(async () => ((await clusterInfo(a.redis(), cluster.name))?.routing_table === '3' ? true : undefined));
    small = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...Array.from({ length: 100 }, (_, i) => [`s${i}`, `small ${i}`]).flat()));
    big = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...Array.from({ length: 3000 }, (_, i) => [`b${i}`, `${i} ${'x'.repeat(200)}`]).flat()));
  }, 120_000);
  afterAll(async () => {
    await m?.stop();
    await cleanupDaemons();
  });

  it('a member whose file lacks the PrivateKey cannot push, and a push needs a ttl', async () => {
    for (const ttl of ['0', '-1']) await expect(a.redis().call('PUSH', cluster.name, small, ttl)).rejects.toThrow(/PUSH needs a TTL/);
    await expect(b.redis().call('PUSH', cluster.name, small, '60000')).rejects.toThrow(/^NOKEY .*PrivateKey/);
    const r = await cli(['push', `*${join(b.clustersDir, 'test.yaml')}#Name`, small, '--ttl', '60000'], { env: daemonEnv(b) });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no PrivateKey: only holders of the cluster's PrivateKey can push/);
  });

  it('a ttl over MaxTTL is refused by every receiver', async () => {
    const tree = String(await a.redis().call('PUTMULTIBIN', '', '-1', 'ttl', 'too long'));
    expect(await a.redis().call('PUSH', cluster.name, tree, String(MAX_TTL + 1))).toBe(0);
    for (const r of [b, c, d]) {
      await expect(r.redis().call('FETCHBIN', tree, 'ttl')).rejects.toThrow(/NOTFOUND/);
      expect(r.stderr()).toMatch(/"reason":"TTL".*"msg":"push refused"/);
    }
    expect(a.stderr()).toMatch(/"reason":"TTL".*"msg":"push refused"/);
  });

  it('a tree over MaxAcceptedSize is refused before anything is fetched', async () => {
    const before = await Promise.all([b, c, d].map((r) => fetched(r, cluster.name)));
    expect(await a.redis().call('PUSH', cluster.name, big, '60000')).toBe(0);
    expect(await Promise.all([b, c, d].map((r) => fetched(r, cluster.name)))).toEqual(before);
    for (const r of [b, c, d]) expect(r.stderr()).toMatch(/"reason":"TOOLARGE".*"msg":"push refused"/);
  });

  it('the CLI pushes to the 3 closest peers, which clone, pin and announce it', async () => {
    const tree = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...Array.from({ length: 500 }, (_, i) => [`p${i}`, `pushed ${i}`]).flat()));
    const r = await cli(['push', `*${join(a.clustersDir, 'test.yaml')}#Name`, tree, '--ttl', '600000'], { env: daemonEnv(a) });
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe(`${tree}: accepted by 3 peers\n`);
    for (const rx of [b, c, d]) {
      expect(String(await rx.redis().call('FETCHBIN', tree, 'p499'))).toBe('pushed 499');
      expect(await rx.redis().call('HASANNOUNCED', cluster.name, tree)).toBe(1);
      expect(rx.stderr()).toMatch(/"msg":"push accepted"/);
      expect((await clusterInfo(rx.redis(), cluster.name))?.pushes_accepted).toBe('1');
    }
    expect(a.stderr()).toMatch(/"accepted":3.*"msg":"push finished"/);
    // Pinned: a collection keeps it.
    await b.redis().call('GC');
    expect(await b.redis().call('KEYCOUNT', tree)).toBe(500);
    pushed = tree;
  });

  describe('hand-built requests', () => {
    const send = async (target: string, frame: Uint8Array): ReturnType<PushService['send']> => {
      const node = m as ClusterNode<{ push: PushService }>;
      await node.libp2p.dial(multiaddr(target), { signal: AbortSignal.timeout(10_000) });
      return node.libp2p.services.push.send(peerIdFromString(peerOf(target)), frame, AbortSignal.timeout(60_000));
    };
    const request = (root: string, over: Partial<PushRequest> = {}): PushRequest => ({ ...newPushRequest(cluster.name, parseId(root), 60_000, 3000), ...over });
    const key = cluster.privateKey as Buffer;

    beforeAll(async () => {
      expect(await a.redis().call('ANNOUNCE', cluster.name, small, '-1')).toBe('OK');
      expect(await a.redis().call('ANNOUNCE', cluster.name, big, '-1')).toBe('OK');
      m = await member({ ...cluster, bootstrap: [addr.a] }, { push: pushService({ cluster, logger: quiet }) });
    });

    it('a signed request is accepted once; replayed, it is refused', async () => {
      const frame = signPush(request(small), key);
      expect(await send(addr.c, frame)).toEqual({ accepted: true, bytes: expect.any(Number) });
      expect(String(await c.redis().call('FETCHBIN', small, 's7'))).toBe('small 7');
      expect(await send(addr.c, frame)).toMatchObject({ accepted: false, reason: 'REPLAY' });
    });

    it('forged, unsigned, misdirected, expired and malformed requests are refused', async () => {
      const r = request(small);
      const body = pushBody(r);
      expect(await send(addr.d, signPush(r, newKeyPair().privateKey))).toMatchObject({ accepted: false, reason: 'BADSIG' });
      expect(await send(addr.d, requestFrame(body, Buffer.alloc(64)))).toMatchObject({ accepted: false, reason: 'BADSIG' });
      // A good signature on another body: the same request with a longer ttl.
      const signed = signPush(r, key);
      const tampered = requestFrame(pushBody({ ...r, ttlMs: r.ttlMs + 1 }), signed.subarray(signed.length - 64));
      expect(await send(addr.d, tampered)).toMatchObject({ accepted: false, reason: 'BADSIG' });
      expect(await send(addr.d, signPush(request(small, { cluster: 'another cluster' }), key))).toMatchObject({ accepted: false, reason: 'WRONGCLUSTER' });
      expect(await send(addr.d, signPush(request(small, { expiresAt: Date.now() - 1 }), key))).toMatchObject({ accepted: false, reason: 'EXPIRED' });
      expect(await send(addr.d, signPush(request(small, { expiresAt: Date.now() + 3_600_000 }), key))).toMatchObject({ accepted: false, reason: 'EXPIRED' });
      expect(await send(addr.d, Buffer.from('not a push request at all, but long enough to hold a signature of 64 bytes'))).toMatchObject({ accepted: false, reason: 'MALFORMED' });
      await expect(d.redis().call('FETCHBIN', small, 's7')).rejects.toThrow(/NOTFOUND/);
      expect(await d.redis().call('PING')).toBe('PONG');
    });

    it('a receiver with MaxAcceptedSize 0 refuses every push', async () => {
      const closed = { ...withoutKey(cluster), maxAcceptedSize: 0, bootstrap: [addr.a] };
      const rx = await member(closed, { push: pushService({ cluster: closed, logger: quiet }) });
      try {
        expect(await send(rx.multiaddrs()[0], signPush(request(small, { size: 1 }), key))).toMatchObject({ accepted: false, reason: 'DISABLED' });
      } finally {
        await rx.stop();
      }
    });

    it('a pusher that states a small size for a big tree is cut off mid-transfer and nothing stays pinned', async () => {
      const before = await fetched(b, cluster.name);
      const outcome = await send(addr.b, signPush(request(big, { size: 20_000 }), key));
      expect(outcome).toMatchObject({ accepted: false, reason: 'OVERSIZE' });
      const moved = (await fetched(b, cluster.name)) - before;
      expect(moved).toBeGreaterThan(20_000);
      expect(moved).toBeLessThan(300_000);
      expect(await b.redis().call('HASANNOUNCED', cluster.name, big)).toBe(0);
      // What landed before the cut is not pinned: once its grace period is over a collection
      // frees it, and no live root reaches the missing rest of the tree any more.
      const gc = async (): Promise<Record<string, number>> => {
        const r = (await b.redis().call('GC')) as Array<string | number>;
        return Object.fromEntries(Array.from({ length: r.length / 2 }, (_, i) => [String(r[2 * i]), Number(r[2 * i + 1])]));
      };
      await poll(async () => ((await gc()).freed_blocks > 0 ? true : undefined));
      expect((await gc()).missing_blocks).toBe(0);
    });
  });

  it('receivers keep and serve a pushed tree after the pusher has gone', async () => {
    const tree = pushed;
    await a.stop();
    await joinCluster(e, { ...withoutKey(cluster), bootstrap: [addr.b] });
    const report = await poll(async () => (await e.redis().call('REMOTE', cluster.name, '3', 'PERSIST', tree, '-1')) as Array<string | number>);
    expect(Number(report[3])).toBeGreaterThan(0);
    expect(String(await e.redis().call('FETCHBIN', tree, 'p123'))).toBe('pushed 123');
  });
});
