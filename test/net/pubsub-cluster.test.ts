import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, clientReady, startDaemons } from '../harness/daemon.ts';
import { collect, runWorker } from '../pubsub/stream-helpers.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

/** Every message a client hears, as `channel:payload` (pattern messages prefixed with the pattern). */
function listen(r: Redis): string[] {
  const heard: string[] = [];
  r.on('messageBuffer', (c: Buffer, m: Buffer) => heard.push(`${c}:${m}`));
  r.on('pmessageBuffer', (p: Buffer, c: Buffer, m: Buffer) => heard.push(`${p}|${c}:${m}`));
  return heard;
}

async function until(probe: () => boolean): Promise<void> {
  await poll(async () => (probe() ? true : undefined), 200, 50);
}

describe('cluster-wide PUBLISH and remote streams between daemons', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let c: TestDaemon;

  beforeAll(async () => {
    [a, b, c] = await startDaemons(3, { args: ['--log-level', 'info'] });
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await joinCluster(c, { ...cluster, bootstrap: [addr] });
    for (const d of [a, b, c]) await poll(async () => (Number((await clusterInfo(d.redis(), cluster.name))?.peers) >= 1 ? true : undefined));
  }, 120_000);
  afterAll(cleanupDaemons);

  it('REMOTE … PUBLISH reaches subscribers on every member once each, in the order published', async () => {
    const onA = a.redis();
    const onB = b.redis();
    const onC = c.redis();
    const heardA = listen(onA);
    const heardB = listen(onB);
    const heardC = listen(onC);
    await Promise.all([onA, onB, onC].map(clientReady));
    await onA.subscribe('news');
    await onB.subscribe('news');
    await onC.psubscribe('n*');
    const pub = a.redis();
    // Cluster delivery is at-most-once while the members' streams to each other open: warm up until every subscriber heard one.
    const heardAll = [heardA, heardB, heardC];
    await poll(async () => {
      await pub.call('REMOTE', cluster.name, '1', 'PUBLISH', 'news', 'warm-up');
      return heardAll.every((h) => h.length > 0) ? true : undefined;
    }, 100, 100);
    await pub.call('REMOTE', cluster.name, '1', 'PUBLISH', 'news', 'warmed');
    await until(() => heardAll.every((h) => h.some((m) => m.endsWith(':warmed'))));
    for (const h of heardAll) h.length = 0;
    const receivedBefore = Number((await clusterInfo(b.redis(), cluster.name))?.pubsub_received);
    for (let i = 0; i < 200; i++) expect(await pub.call('REMOTE', cluster.name, '1', 'PUBLISH', 'news', `m${i}`)).toBe(1);
    await pub.call('REMOTE', cluster.name, '1', 'PUBLISH', 'news', 'last');
    await until(() => heardB.at(-1) === 'news:last' && heardC.at(-1) === 'n*|news:last' && heardA.at(-1) === 'news:last');
    const expected = [...Array.from({ length: 200 }, (_, i) => `m${i}`), 'last'];
    expect(heardA).toEqual(expected.map((m) => `news:${m}`));
    expect(heardB).toEqual(expected.map((m) => `news:${m}`));
    expect(heardC).toEqual(expected.map((m) => `n*|news:${m}`));
    // A plain PUBLISH stays on its daemon, as in Redis.
    expect(await b.redis().call('PUBLISH', 'news', 'local only')).toBe(1);
    expect(await b.redis().call('REMOTE', cluster.name, '1', 'PUBLISH', 'news', 'from b')).toBe(1);
    await until(() => heardA.at(-1) === 'news:from b' && heardC.at(-1) === 'n*|news:from b');
    expect(heardA).not.toContain('news:local only');
    const info = await clusterInfo(b.redis(), cluster.name);
    expect(Number(info?.pubsub_received) - receivedBefore).toBe(201);
    await expect(pub.call('REMOTE', 'NoSuchCluster', '1', 'PUBLISH', 'news', 'x')).rejects.toThrow(/NOCLUSTER/);
    await expect(pub.call('REMOTE', cluster.name, '1', 'PUBLISH', 'news')).rejects.toThrow(/takes a channel and a message/);
  });

  it('REMOTE cluster 1 STREAMSTART: results from a worker on another member arrive in order; the end is clear', async () => {
    const worker = a.redis();
    void runWorker(worker, 'upper', (m, arg) => Buffer.from(`${m}(${arg.toString().toUpperCase()})`));
    const producer = b.redis();
    const ref = await poll(async () => String(await producer.call('REMOTE', cluster.name, '1', 'STREAMSTART', 'upper')));
    expect(ref).toMatch(/^stream:[0-9a-f]{24}:\*$/);
    await expect(producer.call('REMOTE', cluster.name, '2', 'STREAMSTART', 'upper')).rejects.toThrow(/one member/);
    const sub = b.redis();
    await clientReady(sub);
    const got = collect(sub, ref);
    await sub.psubscribe(ref);
    const base = ref.slice(0, -1);
    for (let i = 0; i < 300; i++) expect(await producer.call('STREAMSEND', ref, 'up', `word${i}`, '10000')).toBe(i + 1);
    await until(() => got.results.length === 300);
    expect(got.results).toEqual(Array.from({ length: 300 }, (_, i) => [`${base}${i + 1}`, `up(WORD${i})`]));
    expect(await producer.call('STREAMSTOP', ref)).toBe('OK');
    expect(await got.ended).toBe('stopped');
    await expect(producer.call('STREAMSEND', ref, 'up', 'late', '100')).rejects.toThrow(/CLOSED/);
    await expect(producer.call('REMOTE', cluster.name, '1', 'STREAMSTART', 'nobody-serves-this')).rejects.toThrow(/NOWORKER/);

    // The worker's whole daemon dies: the caller's subscribers hear the end.
    const ref2 = String(await producer.call('REMOTE', cluster.name, '1', 'STREAMSTART', 'upper'));
    const got2 = collect(sub, ref2);
    await sub.psubscribe(ref2);
    await producer.call('STREAMSEND', ref2, 'up', 'x', '10000');
    await until(() => got2.results.length === 1);
    await a.kill('SIGKILL');
    expect(await got2.ended).toMatch(/gone|closed|reset/i);
    await expect(producer.call('STREAMSEND', ref2, 'up', 'y', '1000')).rejects.toThrow(/CLOSED/);
  });
});
