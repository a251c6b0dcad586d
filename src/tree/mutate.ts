import { compareEncoded } from '../codec/index.ts';
import { LevelCursor } from './cursor.ts';
import { keyLevel } from './level.ts';
import type { NodeLoader } from './loader.ts';
import { EMPTY_NODE, type Entry, TreeNode, childEntryVal } from './node.ts';

/** A change to one key: `val` null deletes it. Keys and values are canonical bytes. */
export interface Mutation {
  key: Uint8Array;
  val: Uint8Array | null;
}

export interface MutationResult {
  root: TreeNode;
  /** Every node created, root included; unchanged subtrees are shared with the old root. */
  created: TreeNode[];
}

/** Sorts by key; for repeated keys the last mutation wins (a batch applies in order). */
export function normalize(muts: Mutation[]): Mutation[] {
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
  if (sorted.length === 0) return { root, created };
  let muts = sorted;
  let level = 0;
  for (; level < root.level; level++) {
    muts = await applyLevel(new LevelCursor(loader, root, level), level, muts, created);
  }
  const top = await applyLevel(new LevelCursor(loader, root, level), level, muts, created);
  // Everything at the old root's level is new now: stack levels until one node remains.
  let entries = top.filter((m): m is Entry => m.val !== null);
  let newRoot: TreeNode | null = entries.length === 0 ? EMPTY_NODE : null;
  while (newRoot === null) {
    if (entries.length === 1) {
      newRoot = created[created.length - 1];
      break;
    }
    level++;
    entries = chunkAll(level, entries, created);
  }
  // New nodes go to the cache now: the collapse below and the next write may read them.
  for (const n of created) loader.add(n);
  // A single-entry internal root only means the level below already fits in one node.
  const dropped = new Set<TreeNode>();
  while (newRoot.level > 0 && newRoot.length === 1) {
    dropped.add(newRoot);
    newRoot = await loader.get(newRoot.child(0));
  }
  return { root: newRoot, created: dropped.size === 0 ? created : created.filter((n) => !dropped.has(n)) };
}

/** Rebuilds the dirty runs of one level; returns the mutations for the level above. */
async function applyLevel(cur: LevelCursor, level: number, muts: Mutation[], created: TreeNode[]): Promise<Mutation[]> {
  const up: Mutation[] = [];
  let i = 0;
  while (i < muts.length) {
    await cur.seek(muts[i].key);
    let buf: Entry[] = [];
    for (;;) {
      const node = cur.node;
      const last = cur.isLast();
      const oldKey = node.lastKey();
      let j = i;
      while (j < muts.length && (last || compareEncoded(muts[j].key, oldKey as Uint8Array) <= 0)) j++;
      if (oldKey !== null) up.push({ key: oldKey, val: null });
      for (const e of merge(node, muts, i, j)) {
        buf.push(e);
        if (keyLevel(e.key) > level) {
          up.push(emit(level, buf, created));
          buf = [];
        }
      }
      i = j;
      if (buf.length === 0) break;
      if (last) {
        up.push(emit(level, buf, created));
        break;
      }
      // The run ends without a boundary: the next node's entries belong to the same chunk.
      await cur.step(1);
    }
  }
  return normalizeUp(up);
}

function emit(level: number, entries: Entry[], created: TreeNode[]): Mutation {
  const node = TreeNode.build(level, entries);
  created.push(node);
  return { key: entries[entries.length - 1].key, val: childEntryVal(node) };
}

/** Chunks a complete level (above the old root) into nodes; returns the entries above them. */
function chunkAll(level: number, entries: Entry[], created: TreeNode[]): Entry[] {
  const up: Entry[] = [];
  let buf: Entry[] = [];
  for (const e of entries) {
    buf.push(e);
    if (keyLevel(e.key) > level) {
      up.push(emit(level, buf, created) as Entry);
      buf = [];
    }
  }
  if (buf.length > 0) up.push(emit(level, buf, created) as Entry);
  return up;
}

/** Deletes of old chunk keys and puts of new ones interleave; a put replaces a delete. */
function normalizeUp(up: Mutation[]): Mutation[] {
  up.sort((a, b) => compareEncoded(a.key, b.key) || (a.val === null ? -1 : 1));
  const out: Mutation[] = [];
  for (const m of up) {
    const last = out[out.length - 1];
    if (last !== undefined && compareEncoded(last.key, m.key) === 0) out[out.length - 1] = m;
    else out.push(m);
  }
  return out;
}

/** The node's entries with mutations [from, to) applied, in key order. */
function* merge(node: TreeNode, muts: Mutation[], from: number, to: number): Generator<Entry> {
  let k = 0;
  let m = from;
  const n = node.length;
  while (k < n || m < to) {
    if (m >= to) {
      yield node.entry(k++);
      continue;
    }
    const c = k < n ? node.compareKey(muts[m].key, k) : -1;
    if (c > 0) {
      yield node.entry(k++);
      continue;
    }
    const mut = muts[m++];
    if (c === 0) k++;
    if (mut.val !== null) yield { key: mut.key, val: mut.val };
  }
}
