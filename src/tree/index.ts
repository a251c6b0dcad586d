import { linksIn } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { type BlockStore, FOREVER } from '../store/blockstore.ts';
import { type Id, idKey } from '../store/id.ts';
import { loadChildren } from './child.ts';
import { type DiffEntry, diff } from './diff.ts';
import { NodeLoader } from './loader.ts';
import { type Mutation, mutate, normalize } from './mutate.ts';
import { EMPTY_NODE, type Entry, TreeNode } from './node.ts';
import { MISSING, get, getMany, getSync } from './read.ts';
import { type RangeOptions, range } from './range.ts';

export { EMPTY_NODE, TreeNode, type Entry } from './node.ts';
export type { DiffEntry } from './diff.ts';
export type { Mutation } from './mutate.ts';
export type { Bound, RangeOptions } from './range.ts';
export { MISSING } from './read.ts';

/** A tree by its root id, or by its root node once resolved (saves a second lookup). */
export type TreeRef = Id | TreeNode;

/** Converts a command's `ttl` (ms; -1 forever; 0 no pin) into a pin expiry. */
export function pinUntil(ttlMs: number, now = Date.now()): number | null {
  if (ttlMs === -1) return FOREVER;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < -1) throw new CrissError('ERR', 'invalid TTL: use milliseconds, or -1 for forever');
  return ttlMs === 0 ? null : now + ttlMs;
}

/**
 * Immutable trees over a block store. Keys and values here are canonical encodings; every
 * write returns a new root and leaves old roots untouched.
 */
export class Trees {
  readonly store: BlockStore;
  readonly loader: NodeLoader;

  /** The empty tree needs no block on disk: every node knows it (see NodeLoader). */
  constructor(store: BlockStore, opts: { cacheBytes?: number } = {}) {
    this.store = store;
    this.loader = new NodeLoader(store, opts.cacheBytes ?? 256 * 1024 * 1024);
  }

  get emptyRoot(): Id {
    return EMPTY_NODE.id;
  }

  /** The root node; NOTFOUND when this store has no such tree. */
  root(id: Id): TreeNode | Promise<TreeNode> {
    return this.loader.get(id);
  }

  /** A tree named by id, or by its root node when the caller already resolved it. */
  private node(tree: TreeRef): TreeNode | Promise<TreeNode> {
    return tree instanceof TreeNode ? tree : this.loader.get(tree);
  }

  /** Applies mutations (in order; the last one for a key wins), stores and pins the new root. */
  async write(tree: TreeRef, muts: Mutation[], ttlMs: number): Promise<Id> {
    const until = pinUntil(ttlMs);
    const root = await this.node(tree);
    const { root: next, created } = await mutate(this.loader, root, normalize(muts));
    await this.store.commit({
      blocks: created.map((n) => ({ id: n.id, bytes: n.bytes })),
      pins: until === null ? [] : [{ root: next.id, until }],
    });
    return next.id;
  }

  /** Pins an existing root (PERSIST), extending and never shortening its pin. */
  async persist(tree: TreeRef, ttlMs: number): Promise<void> {
    const until = pinUntil(ttlMs);
    const root = await this.node(tree);
    if (until !== null) await this.store.commit({ pins: [{ root: root.id, until }] });
  }

  /** A value by key, synchronously when every node on the path is cached. */
  getSync(root: TreeNode, key: Uint8Array): Uint8Array | undefined | typeof MISSING {
    return getSync(this.loader, root, key);
  }

  async get(tree: TreeRef, key: Uint8Array): Promise<Uint8Array | undefined> {
    return get(this.loader, await this.node(tree), key);
  }

  async getMany(tree: TreeRef, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return getMany(this.loader, await this.node(tree), keys);
  }

  async has(tree: TreeRef, key: Uint8Array): Promise<boolean> {
    return (await this.get(tree, key)) !== undefined;
  }

  async *range(tree: TreeRef, opts: RangeOptions = {}): AsyncGenerator<Entry> {
    yield* range(this.loader, await this.node(tree), opts);
  }

  async *diff(a: TreeRef, b: TreeRef): AsyncGenerator<DiffEntry> {
    yield* diff(this.loader, await this.node(a), await this.node(b));
  }

  /** Entry count and the bytes of every block of the tree, from the root alone. */
  async stats(tree: TreeRef): Promise<{ count: number; bytes: number; height: number }> {
    const root = await this.node(tree);
    return { count: root.count, bytes: root.size, height: root.level + 1 };
  }

  /**
   * Every node reachable from the root, each once; with `followLinks`, also the trees that
   * values link to (directories to files, tables to rows).
   */
  async *walk(rootId: Id, opts: { followLinks?: boolean } = {}): AsyncGenerator<TreeNode> {
    const seen = new Set<string>();
    const stack: Id[] = [rootId];
    while (stack.length > 0) {
      const id = stack.pop() as Id;
      const k = idKey(id);
      if (seen.has(k)) continue;
      seen.add(k);
      const node = await this.loader.get(id);
      yield node;
      if (node.level > 0) {
        const children = Array.from({ length: node.length }, (_, i) => node.child(i));
        // One batched read for the whole fan-out instead of one read per child.
        await loadChildren(this.loader, node);
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
      } else if (opts.followLinks === true) {
        for (let i = node.length - 1; i >= 0; i--) stack.push(...linksIn(node.val(i)));
      }
    }
  }
}
