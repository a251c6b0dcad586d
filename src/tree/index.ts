import { linksIn } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { FOREVER, type WriteSet } from '../store/blockstore.ts';
import { Lease } from '../store/buffer-pool.ts';
import { type Id, idKey } from '../store/id.ts';
import { type Blob, isRef, isRefAt, refId, refMayLink, separate, verifyBlob } from './blob.ts';
import { loadChildren } from './child.ts';
import { type DiffEntry, diff } from './diff.ts';
import { type BlockReader, MissingBlockError, NodeLoader, type ReadOptions } from './loader.ts';
import { type Mutation, mutate, normalize } from './mutate.ts';
import { EMPTY_NODE, type Entry, TreeNode } from './node.ts';
import { MISSING, get, getMany, getSync, rangeSync } from './read.ts';
import { type RangeOptions, range } from './range.ts';
import { RecentBlobs } from './recent-blobs.ts';

export { EMPTY_NODE, TreeNode, type Entry } from './node.ts';
export type { DiffEntry } from './diff.ts';
export type { Mutation } from './mutate.ts';
export type { Bound, RangeOptions } from './range.ts';
export { MISSING } from './read.ts';
export { INLINE_MAX, isRef } from './blob.ts';

/** Verified blobs kept for reads that ask for the same one at once (a `cat`'s window edges). */
const RECENT_BLOB_BYTES = 8 * 1024 * 1024;

/** Where trees read blocks: nodes through the BlockReader, big values as blobs. */
export interface BlockSource extends BlockReader {
  getBlob(id: Id, opts?: ReadOptions): Promise<Uint8Array | undefined>;
  /** A local store reads big blocks into reusable buffers (store/buffer-pool). */
  leaseBlob?(id: Id): Promise<Lease | undefined>;
}

/** Where trees write: one durable, atomic commit per write. */
export interface BlockSink {
  commit(set: WriteSet): Promise<void>;
  /** Sweeps of the garbage collector finished so far: what a node read now is stamped with (WriteSet.since). */
  readonly sweepsDone: number;
}

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
  readonly source: BlockSource;
  readonly sink: BlockSink;
  readonly loader: NodeLoader;
  private readonly recentBlobs = new RecentBlobs(RECENT_BLOB_BYTES);

  /** The empty tree needs no block on disk: every node knows it (see NodeLoader). */
  constructor(source: BlockSource, sink: BlockSink, opts: { cacheBytes?: number } = {}) {
    this.source = source;
    this.sink = sink;
    this.loader = new NodeLoader(source, opts.cacheBytes ?? 256 * 1024 * 1024, () => sink.sweepsDone);
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
  async write(tree: TreeRef, muts: Mutation[], ttlMs: number, extra: Pick<WriteSet, 'blobs' | 'uses' | 'since'> = {}): Promise<Id> {
    const until = pinUntil(ttlMs);
    const root = await this.node(tree);
    const since = Math.min(extra.since ?? root.epoch, root.epoch);
    const blobs: Blob[] = [];
    const leafMuts = muts.map((m) => {
      if (m.val === null || isRef(m.val)) return m;
      const { val, blob } = separate(m.val);
      if (blob !== null) blobs.push(blob);
      return blob === null ? m : { key: m.key, val };
    });
    const { root: next, created, bases, copied } = await mutate(this.loader, root, normalize(leafMuts));
    await this.sink.commit({
      blocks: created.map((n, i) => ({ id: n.id, bytes: n.bytes, base: bases[i], copied: copied[i], holder: n })),
      blobs: [...blobs, ...(extra.blobs ?? [])],
      pins: until === null ? [] : [{ root: next.id, until }],
      uses: [{ id: root.id, kind: 'node' }, ...(extra.uses ?? [])],
      fresh: until === null ? [next.id] : [],
      since,
    });
    return next.id;
  }

  /** Pins an existing root (PERSIST), extending and never shortening its pin. */
  async persist(tree: TreeRef, ttlMs: number): Promise<void> {
    const until = pinUntil(ttlMs);
    const root = await this.node(tree);
    if (until !== null) await this.sink.commit({ pins: [{ root: root.id, until }], uses: [{ id: root.id, kind: 'node' }], since: root.epoch });
  }

  /** A leaf value as stored: inline canonical bytes stay, a blob reference becomes its blob. */
  resolve(val: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return isRef(val) ? this.blob(val) : val;
  }

  /** The verified blob a reference names (a read with a signal of its own is never shared). */
  async blob(ref: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    if (signal !== undefined) return this.readBlob(ref, signal);
    return (await this.blobLease(ref)).escape();
  }

  /**
   * The verified blob a reference names, leased: the caller releases it once nothing reads its
   * bytes, and its buffer may then hold another blob.
   */
  blobLease(ref: Uint8Array): Promise<Lease> {
    return this.recentBlobs.get(idKey(refId(ref)), () => this.loadBlob(ref));
  }

  private async readBlob(ref: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    const bytes = await this.source.getBlob(refId(ref), signal === undefined ? undefined : { signal });
    if (bytes === undefined) throw new MissingBlockError(refId(ref));
    return verifyBlob(ref, bytes);
  }

  private async loadBlob(ref: Uint8Array): Promise<Lease> {
    if (this.source.leaseBlob === undefined) return Lease.of(await this.readBlob(ref));
    const lease = await this.source.leaseBlob(refId(ref));
    if (lease === undefined) throw new MissingBlockError(refId(ref));
    try {
      await verifyBlob(ref, lease.bytes);
    } catch (e) {
      lease.release();
      throw e;
    }
    return lease;
  }

  /** A value by key, synchronously when every node on the path is cached and it is inline. */
  getSync(root: TreeNode, key: Uint8Array): Uint8Array | undefined | typeof MISSING {
    const v = getSync(this.loader, root, key);
    return v !== undefined && v !== MISSING && isRef(v) ? MISSING : v;
  }

  /** Entries within ascending bounds, synchronously while they are few (≤ limit), inline and cached; else undefined. */
  rangeSync(root: TreeNode, opts: RangeOptions, limit: number): Entry[] | undefined {
    return rangeSync(this.loader, root, opts, limit);
  }

  async get(tree: TreeRef, key: Uint8Array): Promise<Uint8Array | undefined> {
    const v = await get(this.loader, await this.node(tree), key);
    return v === undefined ? v : this.resolve(v);
  }

  async getMany(tree: TreeRef, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    const vals = await getMany(this.loader, await this.node(tree), keys);
    return Promise.all(vals.map((v) => (v === undefined ? v : this.resolve(v))));
  }

  async has(tree: TreeRef, key: Uint8Array): Promise<boolean> {
    return (await get(this.loader, await this.node(tree), key)) !== undefined;
  }

  /** Entries in key order, values resolved. */
  async *range(tree: TreeRef, opts: RangeOptions = {}): AsyncGenerator<Entry> {
    for await (const e of range(this.loader, await this.node(tree), opts)) yield isRef(e.val) ? { key: e.key, val: await this.blob(e.val) } : e;
  }

  /** Entries as stored: large values stay blob references (file reads fetch them themselves). */
  async *entries(tree: TreeRef, opts: RangeOptions = {}): AsyncGenerator<Entry> {
    yield* range(this.loader, await this.node(tree), opts);
  }

  async *diff(a: TreeRef, b: TreeRef): AsyncGenerator<DiffEntry> {
    // Equal values have equal references, so the diff itself never needs a blob.
    for await (const d of diff(this.loader, await this.node(a), await this.node(b))) {
      yield {
        key: d.key,
        before: d.before === undefined ? undefined : await this.resolve(d.before),
        after: d.after === undefined ? undefined : await this.resolve(d.after),
      };
    }
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
        for (let i = node.length - 1; i >= 0; i--) {
          const v = node.val(i);
          if (!isRefAt(v, 0)) stack.push(...linksIn(v));
          else if (refMayLink(v)) stack.push(...linksIn(await this.blob(v)));
        }
      }
    }
  }
}
