import { describe, expect, it } from 'vitest';
import { BufferPool, Lease } from '../../src/store/buffer-pool.ts';

describe('BufferPool', () => {
  it('reuses a released buffer for a block that fits it, not for a much smaller or a bigger one', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.lease(300_000);
    const backing = a.bytes.buffer;
    a.release();
    expect(pool.lease(400_000).bytes.buffer).not.toBe(backing);
    expect(pool.lease(100_000).bytes.buffer).not.toBe(backing);
    const b = pool.lease(290_000);
    expect(b.bytes.buffer).toBe(backing);
    expect(b.bytes.length).toBe(290_000);
    expect(pool.stats).toEqual({ reused: 1, allocated: 3 });
  });

  it('keeps a buffer out of the pool until its last holder releases it', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.lease(100_000).retain(2);
    a.release();
    a.release();
    expect(pool.pooledBytes).toBe(0);
    a.release();
    expect(pool.pooledBytes).toBeGreaterThanOrEqual(100_000);
    expect(() => a.release()).toThrow();
    expect(() => a.retain()).toThrow();
  });

  it('keeps no more free bytes than its bound, and never an escaped buffer', () => {
    const pool = new BufferPool(256 * 1024);
    const leases = [pool.lease(200_000), pool.lease(200_000), pool.lease(200_000)];
    leases[0].escape();
    for (const l of leases) l.release();
    expect(pool.pooledBytes).toBeLessThanOrEqual(256 * 1024);
    expect(pool.pooledBytes).toBeGreaterThan(0);
  });

  it('wraps bytes of no pool without copying them, and releasing them frees nothing', () => {
    const bytes = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
    const l = Lease.of(bytes);
    expect(l.bytes.buffer).toBe(bytes.buffer);
    expect([...l.bytes]).toEqual([2, 3]);
    l.release();
  });
});
