/**
 * The workload, generated deterministically from a seed so both engines, and every rerun, see
 * the same keys and values. Keys are `key/` + a zero-padded index: the same strings are valid
 * MST keys for the anchor (which wants `collection/rkey`) and sort in index order for us.
 */

import { prng } from '../test/helpers/prng.ts';

export { prng };

export function keyString(i: number): string {
  return `key/${i.toString().padStart(10, '0')}`;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A 32–100 character value for key `i` (`version` makes a different value for the same key).
 * Characters are random per value, so LevelDB's block compression cannot flatter the
 * bytes-on-disk figure by finding repeats across values.
 */
export function valueString(i: number, version = 0): string {
  const next = prng(Math.imul(i, 0x9e3779b1) ^ Math.imul(version + 1, 0x85ebca6b));
  const len = 32 + Math.floor(next() * 69);
  let s = '';
  for (let c = 0; c < len; c++) s += ALPHABET[Math.floor(next() * 64)];
  return s;
}

/** Indices 0..n-1, in key order or shuffled (Fisher–Yates), as the ingest order. */
export function ingestOrder(n: number, shuffle: boolean, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  const rnd = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * `count` indices in [0, n): distinct when `count` ≤ n / 2 (the keys two diffed trees differ in),
 * drawn with replacement otherwise (a stream of random reads).
 */
export function sampleIndices(n: number, count: number, seed: number): Uint32Array {
  const rnd = prng(seed);
  const out = new Uint32Array(count);
  if (count > n / 2) {
    for (let i = 0; i < count; i++) out[i] = Math.floor(rnd() * n);
    return out;
  }
  const seen = new Set<number>();
  for (let i = 0; i < count; ) {
    const x = Math.floor(rnd() * n);
    if (seen.has(x)) continue;
    seen.add(x);
    out[i++] = x;
  }
  return out;
}

/** `count` of the ingested indices (`present`, e.g. the part of an ingest order that ran). */
export function pickFrom(present: Uint32Array, count: number, seed: number): Uint32Array {
  return sampleIndices(present.length, count, seed).map((j) => present[j]);
}
