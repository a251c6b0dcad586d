import { describe, expect, it } from 'vitest';
import { applyDelta, encodeDelta, keyframeOf } from '../../src/store/delta.ts';
import { encodeDeltaVia } from '../../src/store/delta-chain.ts';
import { idOf } from '../../src/store/id.ts';
import { prng } from '../helpers/prng.ts';
import { edit, leaf, randomLeaf } from './leaves.ts';

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
