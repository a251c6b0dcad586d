import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { diskUsage } from '../../src/store/segments.ts';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { specBytes } from '../tree/spec-bytes.ts';

afterEach(cleanupDaemons);

/** Collection only on request and no grace period: each test decides what is live. */
const GC_NOW = { args: ['--gc-grace-ms', '0', '--gc-interval-ms', '0'] };

async function upload(redis: Redis, data: Buffer, ttl: number): Promise<string> {
  await redis.call('FILEBEGIN');
  const acks = [];
  for (let o = 0; o < data.length; o += 1 << 20) acks.push(redis.callBuffer('FILEWRITE', data.subarray(o, o + (1 << 20))));
  await Promise.all(acks);
  return (await redis.call('FILEEND', String(ttl))) as string;
}

async function gc(redis: Redis): Promise<Record<string, number>> {
  const flat = (await redis.call('GC')) as Array<string | number>;
  return Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [String(flat[2 * i]), Number(flat[2 * i + 1])]));
}

async function sameBytes(redis: Redis, id: string, data: Buffer): Promise<boolean> {
  const got = (await redis.callBuffer('FILEREAD', id, '0', String(data.length))) as Buffer;
  return got.equals(data);
}

describe('storage lifetime across kill -9', () => {
  it('an upload killed midway leaves no file, and GC reclaims its bytes', async () => {
    const d = await startDaemon(GC_NOW);
    const r = d.redis({ maxRetriesPerRequest: 0 });
    const kept = specBytes(2_000_000);
    const keptId = await upload(r, kept, -1);
    await r.call('FILEBEGIN');
    const big = specBytes(24 * 1024 * 1024).reverse();
    for (let o = 0; o < big.length; o += 1 << 20) await r.callBuffer('FILEWRITE', big.subarray(o, o + (1 << 20)));
    await d.kill('SIGKILL');
    await d.restart();
    const r2 = d.redis();
    expect(await sameBytes(r2, keptId, kept)).toBe(true);
    const before = await diskUsage(d.dataDir);
    const report = await gc(r2);
    const after = await diskUsage(d.dataDir);
    expect(report.segments_compacted).toBeGreaterThanOrEqual(1);
    // What reached the segments before the kill is gone; only the kept file's chunks remain.
    expect(before - after).toBeGreaterThan(8 * 1024 * 1024);
    const segmentBytes = Number(/store_segment_bytes:(\d+)/.exec(String(await r2.call('INFO', 'store')))?.[1]);
    expect(segmentBytes).toBeLessThan(kept.length + 64 * 1024);
    expect(await sameBytes(r2, keptId, kept)).toBe(true);
  }, 60_000);

  it('a collection killed midway leaves every live root whole, and the next one finishes', async () => {
    const d = await startDaemon(GC_NOW);
    const r = d.redis({ maxRetriesPerRequest: 0 });
    const file = specBytes(3_000_000);
    const fileId = await upload(r, file, -1);
    let live = '';
    for (let i = 0; i < 80; i++) {
      const pairs = Array.from({ length: 1000 }, (_, k) => [`k${(i * 7919 + k * 104729) % 100_000}`, `v${i}`]).flat();
      // Every other root is unpinned: the collection has plenty to sweep.
      const root = (await r.call('PUTMULTIBIN', live, i % 2 === 0 ? '-1' : '0', ...pairs)) as string;
      if (i % 2 === 0) live = root;
    }
    const roots = [live];
    const collecting = r.call('GC').catch(() => 'killed');
    // Kill once the collection is under way (INFO answers while it runs).
    const watch = d.redis();
    for (let i = 0; i < 10_000 && !/gc_running:1/.test(String(await watch.call('INFO', 'store'))); i++);
    await d.kill('SIGKILL');
    expect(await collecting).toBe('killed');
    await d.restart();
    const r2 = d.redis();
    expect(await sameBytes(r2, fileId, file)).toBe(true);
    for (const root of roots) expect(Number(await r2.call('KEYCOUNT', root))).toBeGreaterThan(1000);
    const report = await gc(r2);
    expect(report.missing_blocks).toBe(0);
    expect(await sameBytes(r2, fileId, file)).toBe(true);
    const scan = (await r2.call('SCANTREEBIN', live, '0', 'COUNT', '100000')) as [string, string[]];
    expect(scan[1].length / 2).toBe(Number(await r2.call('KEYCOUNT', live)));
  }, 60_000);
});

describe('expiry', () => {
  it('expired data really shrinks the data directory', async () => {
    const d = await startDaemon(GC_NOW);
    const r = d.redis();
    await upload(r, specBytes(30 * 1024 * 1024), 300);
    let root = '';
    for (let i = 0; i < 20; i++) root = (await r.call('PUTMULTIBIN', root, '300', ...Array.from({ length: 500 }, (_, k) => [`key-${i}-${k}`, 'x'.repeat(200)]).flat())) as string;
    await new Promise((resolve) => setTimeout(resolve, 400));
    const before = await diskUsage(d.dataDir);
    const report = await gc(r);
    const after = await diskUsage(d.dataDir);
    expect(report.freed_pins).toBeGreaterThanOrEqual(21);
    expect(before - after).toBeGreaterThan(30 * 1024 * 1024);
    expect(report.marked_blocks).toBe(0);
  }, 60_000);
});
