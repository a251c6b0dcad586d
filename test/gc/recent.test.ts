import { describe, expect, it } from 'vitest';
import { RecentRoots } from '../../src/gc/recent.ts';
import { idOf } from '../../src/store/id.ts';

const root = (n: number): Uint8Array => idOf(Buffer.from(`root ${n}`));
const live = (r: RecentRoots, now: number): number => [...r.live(now)].length;

describe('roots within their grace period', () => {
  it('spares a root for the grace period and not after it', () => {
    const r = new RecentRoots(1000);
    r.add(root(1), 10_000);
    expect(live(r, 10_999)).toBe(1);
    expect(live(r, 11_000)).toBe(0);
  });

  it('with no grace period spares nothing, even a root handed out in the same millisecond', () => {
    const r = new RecentRoots(0);
    r.add(root(1), 10_000);
    expect(live(r, 10_000)).toBe(0);
  });

  it('keeps a chunk while its newest root is within the grace period', () => {
    const r = new RecentRoots(1600);
    r.add(root(1), 10_000);
    r.add(root(2), 10_050);
    expect(live(r, 11_620)).toBe(2);
    expect(live(r, 11_650)).toBe(0);
  });
});
