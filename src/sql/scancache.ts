import { Buffer } from 'node:buffer';
import { compareEncoded, skipValue } from '../codec/index.ts';
import { Head, readHead } from '../codec/head.ts';
import { type Id, idKey } from '../store/id.ts';
import type { Bound, Entry } from '../tree/index.ts';

/**
 * Every entry of small trees that were scanned in full, by root id (trees are immutable, so an
 * entry never goes stale). Correlated subqueries scan the same small table once per outer row;
 * from here such a scan runs without suspending SQLite. Bounded by entries held; a tree larger
 * than `maxTree` is never held, so large tables are always read block by block.
 */
export class ScanCache {
  private readonly trees = new Map<string, Entry[]>();
  private held = 0;
  private readonly maxEntries: number;
  readonly maxTree: number;

  constructor(maxEntries = 200_000, maxTree = 4096) {
    this.maxEntries = maxEntries;
    this.maxTree = maxTree;
  }

  /** Entries held, over every cached tree (for INFO). */
  get entries(): number {
    return this.held;
  }

  get(id: Id): Entry[] | undefined {
    const k = idKey(id);
    const hit = this.trees.get(k);
    if (hit !== undefined) {
      this.trees.delete(k);
      this.trees.set(k, hit);
    }
    return hit;
  }

  /** Keeps copies: the entries a range yields are views into cached node slabs. */
  put(id: Id, entries: Entry[]): void {
    const k = idKey(id);
    if (entries.length > this.maxTree || this.trees.has(k)) return;
    this.trees.set(k, entries.map((e) => ({ key: e.key.slice(), val: e.val.slice() })));
    this.held += entries.length;
    for (const [old, list] of this.trees) {
      if (this.held <= this.maxEntries) break;
      this.trees.delete(old);
      this.held -= list.length;
    }
  }
}

/** The index of the first entry at or after (after, when exclusive) the bound. */
export function lowerIndex(entries: Entry[], b: Bound | undefined): number {
  if (b === undefined) return 0;
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareEncoded(entries[mid].key, b.key);
    if (c < 0 || (c === 0 && !b.inclusive)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One past the last entry at or before (before, when exclusive) the bound. */
export function upperIndex(entries: Entry[], b: Bound | undefined): number {
  if (b === undefined) return entries.length;
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareEncoded(entries[mid].key, b.key);
    if (c < 0 || (c === 0 && b.inclusive)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where each distinct run of leading tuple items starts and ends, per cached tree and width. */
const runs = new WeakMap<Entry[], Map<number, Map<string, [number, number]>>>();
const outer = new Head();
const inner = new Head();

const text = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');

/**
 * The entries of a cached tree of tuple keys whose first `width` items encode to `prefix`
 * (the items' canonical bytes back to back): a hash lookup instead of two binary searches,
 * built once per tree. Joins probe small tables this way once per outer row.
 */
export function prefixRun(entries: Entry[], width: number, prefix: Uint8Array): Entry[] {
  let byWidth = runs.get(entries);
  if (byWidth === undefined) {
    byWidth = new Map();
    runs.set(entries, byWidth);
  }
  let map = byWidth.get(width);
  if (map === undefined) {
    map = new Map();
    for (let i = 0; i < entries.length; i++) {
      const k = entries[i].key;
      readHead(k, 0, outer);
      readHead(k, outer.start, inner);
      let end = inner.start;
      for (let j = 0; j < width && j < inner.len; j++) end = skipValue(k, end);
      const run = text(k, inner.start, end);
      const r = map.get(run);
      if (r === undefined) map.set(run, [i, i + 1]);
      else r[1] = i + 1;
    }
    byWidth.set(width, map);
  }
  const r = map.get(text(prefix, 0, prefix.length));
  return r === undefined ? [] : entries.slice(r[0], r[1]);
}
