import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/codec/index.ts';
import { applyDelta, encodeDelta, keyframeOf } from '../../src/store/delta.ts';
import { encodeDeltaVia } from '../../src/store/delta-chain.ts';
import { idOf } from '../../src/store/id.ts';
import { prng } from '../helpers/prng.ts';

/** A leaf-shaped node: array head, version and level, then sorted key/value entries. */
function leaf(entries: Map<number, string>): Buffer {
  const keys = [...entries.keys()].sort((a, b) => a - b);
  const items = 2 + 2 * keys.length;
  const head = items <= 15 ? Buffer.from([0x90 | items]) : Buffer.from([0xdc, items >> 8, items & 0xff]);
  const parts = keys.flatMap((k) => [encodeValue(`key:${String(k).padStart(12, '0')}`), encodeValue(entries.get(k) as string)]);
  return Buffer.concat([head, Buffer.from([1, 0]), ...parts]);
}

function edit(entries: Map<number, string>, edits: number, r: () => number): Map<number, string> {
  const out = new Map(entries);
  for (let e = 0; e < edits; e++) {
    const roll = r();
    const keys = [...out.keys()];
    if (roll < 0.5) out.set(Math.floor(r() * 1e9), `v${r()}`.padEnd(32, 'x'));
    else if (roll < 0.8) out.set(keys[Math.floor(r() * keys.length)], `w${r()}`.padEnd(20 + Math.floor(r() * 30), 'y'));
    else if (keys.length > 1) out.delete(keys[Math.floor(r() * keys.length)]);
  }
  return out;
}

function randomLeaf(r: () => number): Map<number, string> {
  const entries = new Map<number, string>();
  for (let i = 10 + Math.floor(r() * 70); i > 0; i--) entries.set(Math.floor(r() * 1e9), `v${r()}`.padEnd(32, 'x'));
  return entries;
}

describe('a delta made from the base’s own record (docs/format.md §8.1)', () => {
  it('rebuilds the node from the keyframe, within half the node, for chains of random edits (property)', () => {
    const r = prng(31);
    let made = 0;
    for (let round = 0; round < 400; round++) {
      const k = randomLeaf(r);
      const keyframe = leaf(k);
      const kid = idOf(keyframe);
      const b = edit(k, 1 + Math.floor(r() * 12), r);
      const base = leaf(b);
      const baseRecord = encodeDelta(kid, keyframe, base);
      if (baseRecord === undefined) continue;
      const node = leaf(edit(b, 1 + Math.floor(r() * (round % 3 === 0 ? 20 : 3)), r));
      const rec = encodeDeltaVia(baseRecord, base, node);
      if (rec === undefined) continue;
      made++;
      expect(Buffer.from(keyframeOf(rec))).toEqual(kid);
      expect(rec.length * 2).toBeLessThanOrEqual(node.length);
      expect(applyDelta(rec, keyframe)).toEqual(node);
    }
    expect(made).toBeGreaterThan(200);
  });

  it('costs about what searching the keyframe costs: one more edit on a base adds about that edit', () => {
    const r = prng(32);
    let composed = 0;
    let searched = 0;
    for (let round = 0; round < 200; round++) {
      const k = randomLeaf(r);
      const keyframe = leaf(k);
      const kid = idOf(keyframe);
      const b = edit(k, 1 + Math.floor(r() * 6), r);
      const base = leaf(b);
      const baseRecord = encodeDelta(kid, keyframe, base);
      const node = leaf(edit(b, 1, r));
      const direct = encodeDelta(kid, keyframe, node);
      const via = baseRecord === undefined ? undefined : encodeDeltaVia(baseRecord, base, node);
      if (direct === undefined || via === undefined) continue;
      composed += via.length;
      searched += direct.length;
    }
    expect(searched).toBeGreaterThan(0);
    expect(composed).toBeLessThan(searched * 1.25);
  });

  it('refuses a record that does not stand for the base it is given', () => {
    const r = prng(33);
    const k = randomLeaf(r);
    const keyframe = leaf(k);
    const b = edit(k, 2, r);
    const base = leaf(b);
    const baseRecord = encodeDelta(idOf(keyframe), keyframe, base) as Buffer;
    const other = leaf(edit(b, 3, r));
    const node = leaf(edit(b, 1, r));
    if (other.length !== base.length) expect(encodeDeltaVia(baseRecord, other, node)).toBeUndefined();
    expect(encodeDeltaVia(baseRecord.subarray(0, baseRecord.length - 3), base, node)).toBeUndefined();
  });
});
