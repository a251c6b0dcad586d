import { compareEncoded } from '../codec/index.ts';
import { checkStartsAfter, loadChildren } from './child.ts';
import type { NodeLoader } from './loader.ts';
import type { TreeNode } from './node.ts';

export interface DiffEntry {
  key: Uint8Array;
  /** Value in the first tree; undefined when the key was added. */
  before: Uint8Array | undefined;
  /** Value in the second tree; undefined when the key was removed. */
  after: Uint8Array | undefined;
}

/** A subtree not yet opened, or one leaf entry. Stacks hold them last-key-descending. */
type Item = { node: TreeNode; key?: undefined; val?: undefined } | { node?: undefined; key: Uint8Array; val: Uint8Array };

/** One side's last key of the last leaf it opened: leaves open in key order, so the next starts after it. */
interface Order {
  left: Uint8Array | null;
}

function open(stack: Item[], node: TreeNode, loader: NodeLoader, order: Order): Promise<void> | void {
  stack.pop();
  if (node.level === 0) {
    if (node.length === 0) return;
    if (order.left !== null) checkStartsAfter(order.left, node);
    order.left = node.key(node.length - 1);
    for (let i = node.length - 1; i >= 0; i--) stack.push({ key: node.key(i), val: node.val(i) });
    return;
  }
  const known = Array.from({ length: node.length }, (_, i) => node.knownChild(i));
  const push = (children: Array<TreeNode | undefined>): void => {
    for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i] as TreeNode });
  };
  if (known.every((c) => c !== undefined)) return push(known);
  return loadChildren(loader, node).then(push);
}

/**
 * Changes from tree `a` to tree `b`, in key order. Both sides are opened level by level and a
 * pair of subtrees with the same id is skipped whole: history independence makes unchanged
 * regions share their nodes, so the cost follows the size of the change, not of the trees.
 */
export async function* diff(loader: NodeLoader, a: TreeNode, b: TreeNode): AsyncGenerator<DiffEntry> {
  const sa: Item[] = [{ node: a }];
  const sb: Item[] = [{ node: b }];
  const oa: Order = { left: null };
  const ob: Order = { left: null };
  for (;;) {
    const x = sa[sa.length - 1];
    const y = sb[sb.length - 1];
    if (x === undefined && y === undefined) return;
    if (x?.node !== undefined && y?.node !== undefined && Buffer.compare(x.node.id, y.node.id) === 0) {
      sa.pop();
      sb.pop();
      continue;
    }
    // Open the taller subtree first so both sides meet at the same level.
    const lx = x?.node?.level ?? -1;
    const ly = y?.node?.level ?? -1;
    if (x?.node !== undefined && lx >= ly) {
      await open(sa, x.node, loader, oa);
      continue;
    }
    if (y?.node !== undefined) {
      await open(sb, y.node, loader, ob);
      continue;
    }
    if (x === undefined) {
      sb.pop();
      yield { key: (y as Item).key as Uint8Array, before: undefined, after: (y as Item).val };
      continue;
    }
    if (y === undefined) {
      sa.pop();
      yield { key: x.key as Uint8Array, before: x.val, after: undefined };
      continue;
    }
    const c = compareEncoded(x.key as Uint8Array, y.key as Uint8Array);
    if (c < 0) {
      sa.pop();
      yield { key: x.key as Uint8Array, before: x.val, after: undefined };
    } else if (c > 0) {
      sb.pop();
      yield { key: y.key as Uint8Array, before: undefined, after: y.val };
    } else {
      sa.pop();
      sb.pop();
      if (Buffer.compare(x.val as Uint8Array, y.val as Uint8Array) !== 0) yield { key: x.key as Uint8Array, before: x.val, after: y.val };
    }
  }
}
