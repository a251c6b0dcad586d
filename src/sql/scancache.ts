import { compareEncoded } from '../codec/index.ts';
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
