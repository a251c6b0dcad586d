import { describe, expect, it } from 'vitest';
import { applyDelta, encodeDelta, isDelta, keyframeOf } from '../../src/store/delta.ts';
import { idOf } from '../../src/store/id.ts';
import { prng } from '../helpers/prng.ts';
import { edit, leaf, randomLeaf } from './leaves.ts';

/** A msgpack-array-shaped block: head for `items` items, then a random body. */
function block(items: number, body: Buffer): Buffer {
  const head = items <= 15 ? Buffer.from([0x90 | items]) : Buffer.from([0xdc, items >> 8, items & 0xff]);
  return Buffer.concat([head, body]);
}

function bytes(n: number, seed: number): Buffer {
  const r = prng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}

describe('node deltas (docs/format.md §8.1)', () => {
  const body = bytes(2000, 1);
  const keyframe = block(40, body);
  const kid = idOf(keyframe);

  it('rebuilds a node with one entry changed in the middle, from a record far smaller than it', () => {
    const node = block(40, Buffer.concat([body.subarray(0, 900), bytes(50, 2), body.subarray(950)]));
    const rec = encodeDelta(kid, keyframe, node) as Buffer;
    expect(isDelta(rec)).toBe(true);
    expect(Buffer.from(keyframeOf(rec))).toEqual(kid);
    expect(rec.length).toBeLessThan(120);
    expect(applyDelta(rec, keyframe)).toEqual(node);
  });

  it('keeps the array head apart, so an insert (a longer head) still shares the body', () => {
    const node = block(42, Buffer.concat([body.subarray(0, 1200), bytes(60, 3), body.subarray(1200)]));
    const rec = encodeDelta(kid, keyframe, node) as Buffer;
    expect(rec.length).toBeLessThan(130);
    expect(applyDelta(rec, keyframe)).toEqual(node);
  });

  it('keeps several scattered edits small: each costs about its own bytes', () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 8; i++) parts.push(body.subarray(i * 250, i * 250 + 230), bytes(20, 10 + i));
    const node = block(40, Buffer.concat(parts));
    const rec = encodeDelta(kid, keyframe, node) as Buffer;
    expect(rec.length).toBeLessThan(36 + 8 * (20 + 12) + 16);
    expect(applyDelta(rec, keyframe)).toEqual(node);
  });

  it('rebuilds exactly whatever the two blocks are (random edits, property)', () => {
    const r = prng(11);
    for (let round = 0; round < 300; round++) {
      let b = Buffer.from(body);
      for (let e = Math.floor(r() * 12); e > 0; e--) {
        const at = Math.floor(r() * b.length);
        const cut = Math.floor(r() * 40);
        b = Buffer.concat([b.subarray(0, at), bytes(Math.floor(r() * 40), round * 100 + e), b.subarray(Math.min(b.length, at + cut))]);
      }
      const node = block(1 + Math.floor(r() * 60), b);
      const rec = encodeDelta(kid, keyframe, node);
      if (rec !== undefined) expect(applyDelta(rec, keyframe)).toEqual(node);
    }
  });

  it('handles changes at the very start and end, and a deletion', () => {
    for (const node of [
      block(40, Buffer.concat([bytes(10, 4), body.subarray(10)])),
      block(40, Buffer.concat([body.subarray(0, 1990), bytes(10, 5)])),
      block(39, Buffer.concat([body.subarray(0, 700), body.subarray(760)])),
      block(40, body),
    ]) {
      const rec = encodeDelta(kid, keyframe, node) as Buffer;
      expect(applyDelta(rec, keyframe)).toEqual(node);
    }
  });

  it('stores a node whole when the delta would not halve it, or the node is small', () => {
    expect(encodeDelta(kid, keyframe, block(40, bytes(2000, 6)))).toBeUndefined();
    const small = block(3, body.subarray(0, 200));
    expect(encodeDelta(kid, block(3, body.subarray(0, 200)), small)).toBeUndefined();
  });

  it('refuses a record that does not fit its keyframe instead of reading past it', () => {
    const node = block(40, Buffer.concat([body.subarray(0, 900), bytes(50, 7), body.subarray(950)]));
    const rec = encodeDelta(kid, keyframe, node) as Buffer;
    expect(applyDelta(rec, keyframe.subarray(0, 500))).toBeUndefined();
    expect(applyDelta(rec.subarray(0, 40), keyframe)).toBeUndefined();
  });

  it('node-shaped edits (inserts, updates, deletes of sorted entries) encode within half the node and apply back to the same bytes (property)', () => {
    const r = prng(21);
    let deltas = 0;
    for (let round = 0; round < 400; round++) {
      const entries = randomLeaf(r);
      const base = leaf(entries);
      // One edit (long common runs either side) up to dozens (short runs between them).
      const edits = round % 4 === 0 ? 1 : 1 + Math.floor(r() * 40);
      const node = leaf(edit(entries, edits, r));
      const rec = encodeDelta(idOf(base), base, node);
      if (edits === 1 && node.length >= 256) expect(rec).toBeDefined();
      if (rec === undefined) continue;
      deltas++;
      expect(rec.length * 2).toBeLessThanOrEqual(node.length);
      expect(applyDelta(rec, base)).toEqual(node);
      if (edits === 1) expect(rec.length).toBeLessThan(36 + 3 + 2 * 12 + 80);
    }
    expect(deltas).toBeGreaterThan(100);
  });

  it('makes the record from the runs the merge copied, and searches instead when a run does not hold', () => {
    const node = block(41, Buffer.concat([body.subarray(0, 900), bytes(50, 8), body.subarray(900)]));
    // Node offsets are one past the body's (the head); the keyframe's head is one byte too.
    const runs = [1, 1, 900, 951, 901, 1100];
    const rec = encodeDelta(kid, keyframe, node, runs) as Buffer;
    expect(rec.length).toBeLessThan(120);
    expect(applyDelta(rec, keyframe)).toEqual(node);
    for (const wrong of [[1, 2, 900, 951, 901, 1100], [1, 1, 900, 940, 901, 1100], [1, 1, 5000]]) {
      const searched = encodeDelta(kid, keyframe, node, wrong) as Buffer;
      expect(applyDelta(searched, keyframe)).toEqual(node);
    }
  });
});
