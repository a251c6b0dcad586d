import { describe, expect, it } from 'vitest';
import { PeerRates } from '../../src/net/rate.ts';

describe('per-peer send rates', () => {
  it('lets a burst of two seconds\' worth through, then makes the peer wait in proportion', () => {
    const r = new PeerRates(1000);
    expect(r.take('a', 2000, 0)).toBe(0);
    expect(r.take('a', 500, 0)).toBe(500);
    // Another peer has its own bucket.
    expect(r.take('b', 2000, 0)).toBe(0);
    // Refilled at 1000 bytes/s: half a second later the debt is paid.
    expect(r.take('a', 0, 500)).toBe(0);
    expect(r.take('a', 1000, 500)).toBe(1000);
  });

  it('never makes anyone wait when unlimited', () => {
    expect(new PeerRates(0).take('a', Number.MAX_SAFE_INTEGER)).toBe(0);
  });
});
