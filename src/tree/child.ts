import { compareAt } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { NodeLoader } from './loader.ts';
import type { TreeNode } from './node.ts';

/**
 * A parent's facts about a child must match the child (docs/format.md §4–§5). A block is only
 * checked against itself when parsed, so every read that descends (get, cursors, diff, walk)
 * checks here before it trusts a child: a lying block is caught on the way down.
 */
export function checkChild(parent: TreeNode, idx: number, child: TreeNode): void {
  const why = mismatch(parent, idx, child);
  if (why !== undefined) throw new CrissError('BADBLOCK', `child ${idx} of a level-${parent.level} node ${why}`);
}

function mismatch(parent: TreeNode, idx: number, child: TreeNode): string | undefined {
  const counts = parent.counts as Float64Array;
  const sizes = parent.sizes as Float64Array;
  if (child.level !== parent.level - 1) return `is at level ${child.level}, not ${parent.level - 1}`;
  if (child.count !== counts[idx]) return `holds ${child.count} entries, not ${counts[idx]} as its parent says`;
  if (child.size !== sizes[idx]) return `takes ${child.size} bytes, not ${sizes[idx]} as its parent says`;
  // Parse guarantees a child has entries: a leaf's count equals its length, and an internal node has at least one.
  if (parent.compareKey(child.key(child.length - 1), idx) !== 0) return "ends on another key than its parent's entry";
  // Only the last node of a level may end without a boundary key (§5): otherwise equal contents could take two shapes.
  if (idx < parent.length - 1 && child.lastLevel() <= child.level) return 'ends before a boundary key, yet is not the last child';
  return undefined;
}

/**
 * Keys ascend across the whole tree, not only inside a node (§4), yet a child's facts in its
 * parent say nothing of where it starts. Ordered reads (cursors, diff) check that each node
 * they reach starts after `left`, the key just before it in key order.
 */
export function checkStartsAfter(left: Uint8Array, node: TreeNode): void {
  if (compareAt(left, 0, node.bytes, node.keyStart[0], 0) >= 0) {
    throw new CrissError('BADBLOCK', `a level-${node.level} node starts at or before the key to its left`);
  }
}

/** Every child of an internal node, checked: cached ones directly, the rest in one batched read. */
export async function loadChildren(loader: NodeLoader, node: TreeNode): Promise<TreeNode[]> {
  const children = await loader.getMany(Array.from({ length: node.length }, (_, i) => node.child(i)));
  for (let i = 0; i < children.length; i++) {
    checkChild(node, i, children[i]);
    node.rememberChild(i, children[i]);
  }
  return children;
}
