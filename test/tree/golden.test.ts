import { describe, expect, it } from 'vitest';
import { Float, Tuple, encodeBytes, encodeValue, type Value } from '../../src/codec/index.ts';
import { idToText } from '../../src/store/id.ts';
import { EMPTY_NODE } from '../../src/tree/node.ts';
import { apply, memoryTrees, prng } from './helpers.ts';

/**
 * Pinned root ids: they guard docs/format.md forever. If one of these changes, the format
 * changed, and every stored tree and every peer disagrees with this build.
 */
const raw = (s: string): Uint8Array => encodeBytes(Buffer.from(s));
const pair = (k: Value, v: Value): [Uint8Array, Uint8Array] => [encodeValue(k), encodeValue(v)];

const vectors: Array<{ name: string; entries: () => Array<[Uint8Array, Uint8Array]>; id: string; level: number; size: number }> = [
  { name: 'the empty tree', entries: () => [], id: 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj', level: 0, size: 3 },
  { name: 'PUTMULTIBIN "" -1 hello world', entries: () => [[raw('hello'), raw('world')]], id: 'QmbTz9LGYAJ7JAuWP3qwmJ47S8q4zuoRYJFBVqRWWt8Jes', level: 0, size: 17 },
  {
    name: 'integers 0..999 mapped to their squares',
    entries: () => Array.from({ length: 1000 }, (_, i) => pair(i, i * i)),
    id: 'Qma4kixJcXQePX4PXWnQAo21P8DgVk5N2w4GiFZWysK5UE', level: 1, size: 8503,
  },
  {
    name: '10,000 string keys key:000000.. with string values',
    entries: () => Array.from({ length: 10000 }, (_, i) => pair(`key:${String(i).padStart(6, '0')}`, `value ${i}`)),
    id: 'QmPAZh6Y9k9iTZFnBis7S56uhaL3MSUvN2ERgtJg1MZKyZ', level: 2, size: 236622,
  },
  {
    name: 'one key of each kind',
    entries: () => [
      pair(null, true), pair(-5, new Float(1)), pair(2n ** 70n, [1, 'a']),
      pair(new Tuple(['x', 1]), new Map<Value, Value>([['b', 1], ['a', 2]])), pair(1.5, new Uint8Array([0, 255])),
    ],
    id: 'QmdbTiAoont3ZEwCqgggJgePhdaSt2sMXBugqik7jGMWUq', level: 0, size: 57,
  },
];

describe('golden root ids', () => {
  for (const v of vectors) {
    it(v.name, async () => {
      const t = memoryTrees();
      const entries = v.entries();
      const root = await apply(t, EMPTY_NODE, entries.map(([key, val]) => ({ key, val })));
      expect(idToText(root.id)).toBe(v.id);
      expect(root.level).toBe(v.level);
      expect(root.count).toBe(entries.length);
      expect(root.size).toBe(v.size);
    });

    it(`${v.name}: same id when written in shuffled batches`, async () => {
      const t = memoryTrees();
      const rnd = prng(v.size);
      const entries = v.entries().sort(() => rnd() - 0.5);
      let root = EMPTY_NODE;
      for (let i = 0; i < entries.length; i += 137) {
        root = await apply(t, root, entries.slice(i, i + 137).map(([key, val]) => ({ key, val })));
      }
      expect(idToText(root.id)).toBe(v.id);
    });
  }

  it('the empty tree is the leaf [1, 0]', () => {
    expect(Buffer.from(EMPTY_NODE.bytes).toString('hex')).toBe('920100');
  });
});
