import { Buffer } from 'node:buffer';
import { compareEncoded } from '../codec/index.ts';
import { type Entry, MISSING, type Mutation, type RangeOptions, type TreeNode, type Trees } from '../tree/index.ts';
import { type ScanCache, lowerIndex, prefixRun, upperIndex } from './scancache.ts';

/** Where an overlay reads its tree: the store, and the cache of small trees scanned whole. */
export interface TreeSource {
  trees: Trees;
  scans: ScanCache;
}

interface Pending {
  key: Uint8Array;
  /** null: deleted in this call. */
  val: Uint8Array | null;
}

/** Entries a bounded range may hold to be read without awaiting (more go block by block). */
export const SYNC_RANGE = 256;

const keyText = (k: Uint8Array): string => Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');

function inRange(key: Uint8Array, opts: RangeOptions): boolean {
  if (opts.min !== undefined) {
    const c = compareEncoded(key, opts.min.key);
    if (c < 0 || (c === 0 && !opts.min.inclusive)) return false;
  }
  if (opts.max !== undefined) {
    const c = compareEncoded(key, opts.max.key);
    if (c > 0 || (c === 0 && !opts.max.inclusive)) return false;
  }
  return true;
}

/**
 * A tree as one SQL call sees it: the stored tree under the writes of the call so far. Nothing
 * reaches the store until the whole call succeeded; then `mutations()` is one batch write.
 */
export class OverlayTree {
  private readonly trees: Trees;
  private readonly scans: ScanCache;
  readonly base: TreeNode;
  private readonly pending = new Map<string, Pending>();
  private sorted: Pending[] | null = null;
  /** The base tree's entries once found in the scan cache (an id lookup costs a string key). */
  private whole: Entry[] | undefined;

  constructor(src: TreeSource, base: TreeNode) {
    this.trees = src.trees;
    this.scans = src.scans;
    this.base = base;
  }

  get changed(): boolean {
    return this.pending.size > 0;
  }

  /** Synchronous when the change is pending or the path is cached. */
  get(key: Uint8Array): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    // Reads have no pending writes: skip the key's string form (a tenth of a warm lookup).
    const p = this.pending.size === 0 ? undefined : this.pending.get(keyText(key));
    if (p !== undefined) return p.val ?? undefined;
    const hit = this.trees.getSync(this.base, key);
    return hit === MISSING ? this.trees.get(this.base, key) : hit;
  }

  set(key: Uint8Array, val: Uint8Array | null): void {
    this.pending.set(keyText(key), { key, val });
    this.sorted = null;
  }

  private local(opts: RangeOptions): Pending[] {
    this.sorted ??= [...this.pending.values()].sort((a, b) => compareEncoded(a.key, b.key));
    const local = this.sorted.filter((p) => inRange(p.key, opts));
    return opts.reverse === true ? local.reverse() : local;
  }

  /** The base tree's entries from the scan cache, which never holds a tree over maxTree entries: no id lookup for those. */
  private cachedWhole(): Entry[] | undefined {
    if (this.whole === undefined && this.base.count <= this.scans.maxTree) this.whole = this.scans.get(this.base.id);
    return this.whole;
  }

  /**
   * The entries whose tuple key starts with `width` items encoding to `prefix`, without
   * awaiting, when the whole tree is cached and unchanged in this call.
   */
  prefixSync(width: number, prefix: Uint8Array): Entry[] | undefined {
    if (this.pending.size > 0) return undefined;
    const whole = this.cachedWhole();
    return whole === undefined ? undefined : prefixRun(whole, width, prefix);
  }

  /**
   * The ascending range without awaiting: when the whole tree is in the scan cache, or when the
   * range is bounded, short (SYNC_RANGE entries at most) and its nodes are cached. Each await
   * would suspend and resume SQLite's whole WebAssembly stack.
   */
  rangeSync(opts: RangeOptions): Entry[] | undefined {
    if (opts.reverse === true) return undefined;
    const all = this.cachedWhole();
    const bounded = opts.min !== undefined || opts.max !== undefined;
    const base = all !== undefined ? all.slice(lowerIndex(all, opts.min), upperIndex(all, opts.max)) : bounded ? this.trees.rangeSync(this.base, opts, SYNC_RANGE) : undefined;
    if (base === undefined) return undefined;
    if (this.pending.size === 0) return base;
    const local = this.local(opts);
    const out: Entry[] = [];
    let i = 0;
    for (const e of base) {
      while (i < local.length && compareEncoded(local[i].key, e.key) < 0) {
        const p = local[i++];
        if (p.val !== null) out.push({ key: p.key, val: p.val });
      }
      if (i < local.length && compareEncoded(local[i].key, e.key) === 0) {
        const p = local[i++];
        if (p.val !== null) out.push({ key: p.key, val: p.val });
        continue;
      }
      out.push(e);
    }
    for (; i < local.length; i++) {
      const p = local[i];
      if (p.val !== null) out.push({ key: p.key, val: p.val });
    }
    return out;
  }

  /** Entries within the bounds in key order (descending with `reverse`), pending writes merged in. */
  async *range(opts: RangeOptions): AsyncGenerator<Entry> {
    const local = this.local(opts);
    const dir = opts.reverse === true ? -1 : 1;
    const whole = opts.min === undefined && opts.max === undefined && this.base.count <= this.scans.maxTree ? ([] as Entry[]) : null;
    let i = 0;
    for await (const e of this.trees.range(this.base, opts)) {
      whole?.push(e);
      while (i < local.length && compareEncoded(local[i].key, e.key) * dir < 0) {
        const p = local[i++];
        if (p.val !== null) yield { key: p.key, val: p.val };
      }
      if (i < local.length && compareEncoded(local[i].key, e.key) === 0) {
        const p = local[i++];
        if (p.val !== null) yield { key: p.key, val: p.val };
        continue;
      }
      yield e;
    }
    if (whole !== null) this.scans.put(this.base.id, opts.reverse === true ? whole.reverse() : whole);
    for (; i < local.length; i++) {
      const p = local[i];
      if (p.val !== null) yield { key: p.key, val: p.val };
    }
  }

  mutations(): Mutation[] {
    return [...this.pending.values()];
  }
}
