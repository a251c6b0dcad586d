import { describe, expect, it } from 'vitest';
import { nodeArrays, nodeSpace, wordArray } from '../../src/tree/slab.ts';

describe('slabs', () => {
  it('carve nodes built together out of one slab, aligned and apart', () => {
    const a = nodeSpace(100, 3, true);
    const b = nodeSpace(50, 2, false);
    expect(b.bytes.buffer).toBe(a.bytes.buffer);
    for (const view of [a.bytes, a.keyStart, a.valStart, a.counts, a.sizes, b.bytes, b.keyStart, b.valStart]) {
      expect((view?.byteOffset ?? 0) % 8).toBe(0);
    }
    a.bytes.fill(1);
    b.bytes.fill(2);
    expect(a.bytes.every((x) => x === 1)).toBe(true);
    expect(nodeArrays(4, false).keyStart.buffer).toBe(a.bytes.buffer);
  });

  it('keep search words measured later out of the slab of the nodes being built then', () => {
    // A long-lived node read while short-lived ones are built would keep their slab alive.
    const built = nodeSpace(100, 3, false);
    const words = wordArray(16);
    expect(words.buffer).not.toBe(built.bytes.buffer);
    expect(nodeSpace(100, 3, false).bytes.buffer).not.toBe(words.buffer);
    expect(wordArray(16).buffer).toBe(words.buffer);
  });
});
