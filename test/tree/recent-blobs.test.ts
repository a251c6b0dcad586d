import { describe, expect, it } from 'vitest';
import { BufferPool, type Lease } from '../../src/store/buffer-pool.ts';
import { RecentBlobs } from '../../src/tree/recent-blobs.ts';

/** A pool that keeps every freed buffer, so a test sees exactly which leases came back. */
function pooled(): { pool: BufferPool; load: (n: number, fill?: number, onLoad?: () => void) => () => Promise<Lease> } {
  const pool = new BufferPool(64 * 1024 * 1024);
  return {
    pool,
    load: (n, fill = 1, onLoad) => async () => {
      onLoad?.();
      await new Promise((r) => setTimeout(r, 1));
      const l = pool.lease(n);
      l.bytes.fill(fill);
      return l;
    },
  };
}

describe('RecentBlobs', () => {
  it('shares a read in flight and keeps the result for the next ask', async () => {
    const cache = new RecentBlobs(1000);
    const { load } = pooled();
    let loads = 0;
    const counted = load(100, 1, () => loads++);
    const [a, b] = await Promise.all([cache.get('x', counted), cache.get('x', counted)]);
    expect(a).toBe(b);
    expect(await cache.get('x', counted)).toBe(a);
    expect(loads).toBe(1);
  });

  it('drops the least recently used past its budget, and never keeps a blob over a quarter of it', async () => {
    const cache = new RecentBlobs(1000);
    const { load } = pooled();
    const loads: string[] = [];
    const get = async (k: string, n: number): Promise<void> => (await cache.get(k, load(n, 1, () => loads.push(k)))).release();
    for (const k of ['a', 'b', 'c', 'd']) await get(k, 250);
    await get('a', 250);
    await get('e', 250);
    // 'b' was the least recently used when 'e' came in: it is read again; 'a' is still there.
    await get('b', 250);
    await get('a', 250);
    await get('big', 251);
    await get('big', 251);
    expect(loads).toEqual(['a', 'b', 'c', 'd', 'e', 'b', 'big', 'big']);
  });

  it('hands a buffer back only once it is evicted and every reader released it', async () => {
    const cache = new RecentBlobs(400_000);
    const { pool, load } = pooled();
    const [first, second] = await Promise.all([cache.get('a', load(100_000, 7)), cache.get('a', load(100_000, 7))]);
    const third = await cache.get('a', load(100_000, 7));
    first.release();
    second.release();
    // Four more blobs push 'a' out: the cache lets go of it, but `third` still reads it.
    for (const k of ['b', 'c', 'd', 'e']) (await cache.get(k, load(100_000, 8))).release();
    expect(pool.pooledBytes).toBe(0);
    expect(third.bytes.every((b) => b === 7)).toBe(true);
    third.release();
    expect(pool.pooledBytes).toBeGreaterThanOrEqual(100_000);
    expect(() => third.release()).toThrow('released more often');
  });

  it('never hands back a blob a reader escaped with', async () => {
    const cache = new RecentBlobs(100_000);
    const { pool, load } = pooled();
    const kept = (await cache.get('a', load(20_000, 5))).escape();
    for (let i = 0; i < 10; i++) {
      const l = await cache.get(`k${i}`, load(20_000, 6));
      expect(l.bytes.buffer).not.toBe(kept.buffer);
      l.release();
    }
    expect(pool.stats.reused).toBeGreaterThan(0);
    expect(kept.every((b) => b === 5)).toBe(true);
  });

  it('forgets a failed read: the next ask reads again', async () => {
    const cache = new RecentBlobs(1000);
    const { load } = pooled();
    await expect(cache.get('x', async () => {
      throw new Error('corrupt');
    })).rejects.toThrow('corrupt');
    expect((await cache.get('x', load(10, 7))).bytes).toEqual(Buffer.alloc(10, 7));
  });
});
