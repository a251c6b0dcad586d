import { compareEncoded } from '../codec/index.ts';
import { LevelCursor } from './cursor.ts';
import type { NodeLoader } from './loader.ts';
import type { Entry, TreeNode } from './node.ts';

export interface Bound {
  key: Uint8Array;
  inclusive: boolean;
}

export interface RangeOptions {
  min?: Bound;
  max?: Bound;
  reverse?: boolean;
}

function aboveMin(key: Uint8Array, min: Bound | undefined): boolean {
  if (min === undefined) return true;
  const c = compareEncoded(key, min.key);
  return c > 0 || (c === 0 && min.inclusive);
}

function belowMax(key: Uint8Array, max: Bound | undefined): boolean {
  if (max === undefined) return true;
  const c = compareEncoded(key, max.key);
  return c < 0 || (c === 0 && max.inclusive);
}

/**
 * Entries within the bounds, ascending (or descending with `reverse`). The walk moves leaf to
 * leaf with a cursor, so a page of n entries costs O(log size + n).
 */
export async function* range(loader: NodeLoader, root: TreeNode, opts: RangeOptions = {}): AsyncGenerator<Entry> {
  const { min, max, reverse = false } = opts;
  if (root.length === 0) return;
  const cur = new LevelCursor(loader, root, 0);
  let from = reverse ? max : min;
  await cur.seek(from?.key ?? null, reverse);
  for (;;) {
    const leaf = cur.node;
    const n = leaf.length;
    let i = reverse ? n - 1 : 0;
    if (from !== undefined) {
      const lb = leaf.lowerBound(from.key);
      i = reverse ? (lb < n && leaf.compareKey(from.key, lb) === 0 ? lb : lb - 1) : lb;
      // Later leaves are walked from their first (or last) entry.
      from = undefined;
    }
    for (; reverse ? i >= 0 : i < n; i += reverse ? -1 : 1) {
      const key = leaf.key(i);
      if (!aboveMin(key, min)) {
        if (reverse) return;
        continue;
      }
      if (!belowMax(key, max)) {
        if (reverse) continue;
        return;
      }
      yield { key, val: leaf.val(i) };
    }
    if (!(await cur.step(reverse ? -1 : 1))) return;
  }
}
