import { compareEncoded } from '../codec/index.ts';
import { LevelCursor } from './cursor.ts';
import { Chunker, type CopiedRuns } from './chunker.ts';
import type { NodeLoader } from './loader.ts';
import { EMPTY_NODE, type TreeNode } from './node.ts';

/** A change to one key: `val` null deletes it. Keys and values are canonical bytes. */
export interface Mutation {
  key: Uint8Array;
  val: Uint8Array | null;
}

export interface MutationResult {
  root: TreeNode;
  /** Every node created, root included; unchanged subtrees are shared with the old root. */
  created: TreeNode[];
  /** Parallel to `created`: the old node each one replaces, when there is one (the store may keep a delta against it). */
  bases: Array<TreeNode | undefined>;
  /**
   * Parallel to `created`: the byte runs each node copied from its base, as triples (offset in
   * the node, offset in the base, length); the store's delta is made from them.
   */
  copied: Array<number[] | undefined>;
}

/** Sorts by key; for repeated keys the last mutation wins (a batch applies in order). */
export function normalize(muts: Mutation[]): Mutation[] {
  // Batches often arrive sorted (ordered ingest): one linear check saves the sort.
  let ascending = true;
  for (let i = 1; i < muts.length && ascending; i++) ascending = compareEncoded(muts[i - 1].key, muts[i].key) < 0;
  if (ascending) return muts;
  const indexed = muts.map((m, i) => ({ m, i }));
  indexed.sort((a, b) => compareEncoded(a.m.key, b.m.key) || a.i - b.i);
  const out: Mutation[] = [];
  for (const { m } of indexed) {
    const last = out[out.length - 1];
    if (last !== undefined && compareEncoded(last.key, m.key) === 0) out[out.length - 1] = m;
    else out.push(m);
  }
  return out;
}

/**
 * Applies sorted, unique mutations to `root` and returns the new root. Each level is a sorted
 * map chunked by key-derived boundaries; changed chunks of level L become mutations of level
 * L + 1 (delete the old chunk's entry, put the new chunks' entries). Only the chunks that
 * hold a mutation, plus a right neighbour when a boundary key disappears, are read or
 * rewritten, and the result depends only on the final set of entries (docs/format.md §5).
 */
export async function mutate(loader: NodeLoader, root: TreeNode, sorted: Mutation[]): Promise<MutationResult> {
  const created: TreeNode[] = [];
  const bases: Array<TreeNode | undefined> = [];
  const runs: CopiedRuns[] = [];
  if (sorted.length === 0) return { root, created, bases, copied: [] };
  let muts = sorted;
  let level = 0;
  for (; level < root.level; level++) {
    muts = await applyLevel(new LevelCursor(loader, root, level), level, muts, created, bases, runs);
  }
  const top = await applyLevel(new LevelCursor(loader, root, level), level, muts, created, bases, runs);
  // Everything at the old root's level is new now: stack levels until one node remains.
  let entries = top.filter((m) => m.val !== null);
  let newRoot: TreeNode | null = entries.length === 0 ? EMPTY_NODE : null;
  while (newRoot === null) {
    if (entries.length === 1) {
      newRoot = created[created.length - 1];
      break;
    }
    level++;
    entries = chunkAll(level, entries, created, bases, runs);
  }
  const copied = created.map((_, i) => fromBase(runs[i], bases[i]));
  // New nodes go to the cache now: the collapse below and the next write may read them.
  const forked = root !== EMPTY_NODE && root.rewrites++ > 0;
  for (const n of created) loader.add(n, undefined, forked);
  // Unforked, the nodes replaced are likely dead: the read that found them earns no stay.
  if (!forked) for (const b of bases) if (b !== undefined) loader.retire(b);
  // A single-entry internal root only means the level below already fits in one node.
  const dropped = new Set<TreeNode>();
  while (newRoot.level > 0 && newRoot.length === 1) {
    dropped.add(newRoot);
    newRoot = await loader.child(newRoot.child(0));
  }
  if (dropped.size === 0) return { root: newRoot, created, bases, copied };
  const kept = created.map((n) => !dropped.has(n));
  return { root: newRoot, created: created.filter((_, i) => kept[i]), bases: bases.filter((_, i) => kept[i]), copied: copied.filter((_, i) => kept[i]) };
}

/** The runs a node copied from its base (a node cut across two old ones copied from both). */
function fromBase(copied: CopiedRuns | undefined, base: TreeNode | undefined): number[] | undefined {
  if (copied === undefined || base === undefined) return undefined;
  const { from, runs } = copied;
  if (from.every((f) => f === base)) return runs;
  const out: number[] = [];
  for (let i = 0; i < from.length; i++) if (from[i] === base) out.push(runs[3 * i], runs[3 * i + 1], runs[3 * i + 2]);
  return out;
}

/**
 * Rebuilds the dirty runs of one level; returns the mutations for the level above. A node
 * cut while an old node's entries were being merged is that old node's successor (`bases`).
 */
async function applyLevel(cur: LevelCursor, level: number, muts: Mutation[], created: TreeNode[], bases: Array<TreeNode | undefined>, runs: CopiedRuns[]): Promise<Mutation[]> {
  const ch = new Chunker(level, created, runs);
  const succeed = (old: TreeNode): void => {
    while (bases.length < created.length) bases.push(old);
  };
  let i = 0;
  while (i < muts.length) {
    const seeking = cur.seek(muts[i].key);
    if (seeking !== undefined) await seeking;
    for (;;) {
      const node = cur.node;
      const last = cur.isLast();
      const oldKey = node.lastKey();
      let j = i;
      while (j < muts.length && (last || compareEncoded(muts[j].key, oldKey as Uint8Array) <= 0)) j++;
      if (oldKey !== null) ch.up.push({ key: oldKey, val: null });
      mergeInto(ch, node, muts, i, j);
      succeed(node);
      i = j;
      if (ch.pending === 0) break;
      if (last) {
        ch.cut();
        succeed(node);
        break;
      }
      // The run ends without a boundary: the next node's entries belong to the same chunk.
      await cur.step(1);
    }
  }
  ch.release();
  return normalizeUp(ch.up);
}

/** Feeds the node's entries with mutations [from, to) applied, in key order, to the chunker. */
function mergeInto(ch: Chunker, node: TreeNode, muts: Mutation[], from: number, to: number): void {
  const n = node.length;
  let k = 0;
  for (let m = from; m < to; m++) {
    const mut = muts[m];
    const p = node.lowerBound(mut.key, k);
    ch.copy(node, k, p);
    k = p;
    // A changed value keeps the key's bytes: the chunker notes them as copied.
    const same = k < n && node.compareKey(mut.key, k) === 0;
    if (mut.val !== null) ch.put(mut.key, mut.val, same ? node : undefined, node.keyStart[k]);
    if (same) k++;
  }
  ch.copy(node, k, n);
}

/** Chunks a complete level (above the old root) into nodes; returns the entries above them. */
function chunkAll(level: number, entries: Mutation[], created: TreeNode[], bases: Array<TreeNode | undefined>, runs: CopiedRuns[]): Mutation[] {
  const ch = new Chunker(level, created, runs);
  for (const e of entries) ch.put(e.key, e.val as Uint8Array);
  ch.cut();
  ch.release();
  while (bases.length < created.length) bases.push(undefined);
  return ch.up;
}

/** By key; of a delete and a put of one key, the delete first. */
function upOrder(a: Mutation, b: Mutation): number {
  return compareEncoded(a.key, b.key) || (a.val === null ? -1 : 1);
}

/** Deletes of old chunk keys and puts of new ones interleave; a put replaces a delete. */
function normalizeUp(up: Mutation[]): Mutation[] {
  // A put of one key has two or three of them a level: Array#sort allocated more than the merge.
  if (up.length <= 8) {
    for (let i = 1; i < up.length; i++) {
      const m = up[i];
      let j = i;
      for (; j > 0 && upOrder(up[j - 1], m) > 0; j--) up[j] = up[j - 1];
      up[j] = m;
    }
  } else up.sort(upOrder);
  const out: Mutation[] = [];
  for (const m of up) {
    const last = out[out.length - 1];
    if (last !== undefined && compareEncoded(last.key, m.key) === 0) out[out.length - 1] = m;
    else out.push(m);
  }
  return out;
}
