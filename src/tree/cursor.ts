import { checkChild, checkStartsAfter } from './child.ts';
import type { NodeLoader } from './loader.ts';
import type { TreeNode } from './node.ts';

/**
 * A position among the nodes of one level of a tree, in key order. `path[i]` is the internal
 * node at depth i and the index of the child taken; `node` is the current node at the target
 * level. Moving to the next or previous node crosses parent boundaries like a B-tree cursor.
 */
export class LevelCursor {
  private readonly loader: NodeLoader;
  private readonly root: TreeNode;
  private readonly level: number;
  private path: Array<{ node: TreeNode; idx: number }> = [];
  node: TreeNode;

  constructor(loader: NodeLoader, root: TreeNode, level: number) {
    this.loader = loader;
    this.root = root;
    this.level = level;
    this.node = root;
  }

  /**
   * Moves to the first node whose last key is >= `key`, or the last node of the level.
   * Synchronous when every node on the way is cached: a write then rebuilds a level without
   * yielding, so concurrent writes do not each hold a Chunker's scratch across awaits.
   */
  seek(key: Uint8Array | null, fromEnd = false): void | Promise<void> {
    this.path = [];
    return this.descend(this.root, key, fromEnd, null);
  }

  private descend(from: TreeNode, key: Uint8Array | null, fromEnd: boolean, leftKey: Uint8Array | null): void | Promise<void> {
    let node = from;
    let left = leftKey;
    while (node.level > this.level) {
      let idx: number;
      if (key === null) idx = fromEnd ? node.length - 1 : 0;
      else idx = Math.min(node.lowerBound(key), node.length - 1);
      if (idx > 0) left = node.key(idx - 1);
      this.path.push({ node, idx });
      const next = this.child(node, idx);
      if (next instanceof Promise) return next.then((child) => this.descend(child, key, fromEnd, left));
      node = next;
    }
    if (left !== null) checkStartsAfter(left, node);
    this.node = node;
  }

  isLast(): boolean {
    for (const p of this.path) if (p.idx !== p.node.length - 1) return false;
    return true;
  }

  /** Steps one node right (`dir` 1) or left (-1); false at the end of the level. */
  async step(dir: 1 | -1): Promise<boolean> {
    let d = this.path.length - 1;
    while (d >= 0) {
      const p = this.path[d];
      const next = p.idx + dir;
      if (next >= 0 && next < p.node.length) break;
      d--;
    }
    if (d < 0) return false;
    this.path[d].idx += dir;
    this.path.length = d + 1;
    const first = this.child(this.path[d].node, this.path[d].idx);
    let node = first instanceof Promise ? await first : first;
    while (node.level > this.level) {
      const idx = dir === 1 ? 0 : node.length - 1;
      this.path.push({ node, idx });
      const next = this.child(node, idx);
      node = next instanceof Promise ? await next : next;
    }
    if (dir === 1) checkStartsAfter(this.node.key(this.node.length - 1), node);
    else checkStartsAfter(node.key(node.length - 1), this.node);
    this.node = node;
    return true;
  }

  /** Synchronous when the child is known or cached, so a warm walk never waits a tick. */
  private child(parent: TreeNode, idx: number): TreeNode | Promise<TreeNode> {
    const known = parent.knownChild(idx);
    if (known !== undefined) {
      this.loader.touch(known);
      return known;
    }
    const got = this.loader.child(parent.child(idx));
    const accept = (child: TreeNode): TreeNode => {
      checkChild(parent, idx, child);
      parent.rememberChild(idx, child);
      return child;
    };
    return got instanceof Promise ? got.then(accept) : accept(got);
  }
}
