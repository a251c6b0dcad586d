import { afterEach, describe, expect, it, vi } from 'vitest';
import { RespDecoder } from '../../src/resp/decoder.ts';

const MiB = 1024 * 1024;

function piece(fill: number): Buffer {
  return Buffer.concat([Buffer.from(`*2\r\n$9\r\nFILEWRITE\r\n$${MiB}\r\n`), Buffer.alloc(MiB, fill), Buffer.from('\r\n')]);
}

describe('shared bulk buffers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('frees the idle ones, and only those', () => {
    vi.useFakeTimers();
    const d = new RespDecoder();
    const recycled = new Set<ArrayBufferLike>();
    let kept: Buffer[] | undefined;
    const input = Buffer.concat([piece(0xaa), ...Array.from({ length: 8 }, (_, i) => piece(i))]);
    for (let at = 0; at < input.length; at += 65_536) {
      d.push(input.subarray(at, at + 65_536));
      for (let cmd = d.next(); cmd !== undefined; cmd = d.next()) {
        if (kept === undefined) kept = cmd;
        else {
          recycled.add(cmd[1].buffer);
          d.recycle(cmd);
        }
      }
    }
    const freed = (): number => [...recycled].filter((b) => b.byteLength === 0).length;
    expect(freed()).toBe(0);
    vi.advanceTimersByTime(10_000);
    // The free ones went back to the system; the one a command still holds did not.
    expect(freed()).toBeGreaterThan(0);
    expect(kept![1].equals(Buffer.alloc(MiB, 0xaa))).toBe(true);
    // Whatever is still to come gets a fresh buffer.
    d.push(piece(0x55));
    const next = d.next()!;
    expect(next[1].equals(Buffer.alloc(MiB, 0x55))).toBe(true);
  });
});
