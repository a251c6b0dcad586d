import { describe, expect, it } from 'vitest';
import { RecentBlobs } from '../../src/tree/recent-blobs.ts';

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

describe('RecentBlobs', () => {
  it('shares a read in flight and keeps the result for the next ask', async () => {
    const cache = new RecentBlobs(1000);
    let loads = 0;
    const load = async (): Promise<Uint8Array> => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return bytes(100);
    };
    const [a, b] = await Promise.all([cache.get('x', load), cache.get('x', load)]);
    expect(a).toBe(b);
    expect(await cache.get('x', load)).toBe(a);
    expect(loads).toBe(1);
  });

  it('drops the least recently used past its budget, and never keeps a blob over a quarter of it', async () => {
    const cache = new RecentBlobs(1000);
    const loads: string[] = [];
    const load = (key: string, n: number) => async (): Promise<Uint8Array> => {
      loads.push(key);
      return bytes(n);
    };
    for (const k of ['a', 'b', 'c', 'd']) await cache.get(k, load(k, 250));
    await cache.get('a', load('a', 250));
    await cache.get('e', load('e', 250));
    // 'b' was the least recently used when 'e' came in: it is read again; 'a' is still there.
    await cache.get('b', load('b', 250));
    await cache.get('a', load('a', 250));
    await cache.get('big', load('big', 251));
    await cache.get('big', load('big', 251));
    expect(loads).toEqual(['a', 'b', 'c', 'd', 'e', 'b', 'big', 'big']);
  });

  it('forgets a failed read: the next ask reads again', async () => {
    const cache = new RecentBlobs(1000);
    await expect(cache.get('x', async () => {
      throw new Error('corrupt');
    })).rejects.toThrow('corrupt');
    expect(await cache.get('x', async () => bytes(10, 7))).toEqual(bytes(10, 7));
  });
});
