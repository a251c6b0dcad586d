import { Buffer } from 'node:buffer';
import { CrissError } from '../errors.ts';
import { ID_BYTES, ID_PREFIX_BYTES, type Id, idEquals, idKey, idOf, idToText } from '../store/id.ts';
import { EMPTY_NODE, TreeNode } from './node.ts';

/**
 * The narrow interface the tree reads blocks through: the local block store today, blocks
 * fetched from peers later. A reader returns the exact bytes that were hashed.
 */
export interface ReadOptions {
  signal?: AbortSignal;
}

export interface BlockReader {
  /** A reader that goes to the network honours `signal`; a local one may ignore it. */
  getBlock(id: Id, opts?: ReadOptions): Promise<Uint8Array | undefined>;
  /** Many blocks in one round trip (LevelDB getMany); optional for readers that cannot batch. */
  getBlocks?(ids: Id[], opts?: ReadOptions): Promise<Array<Uint8Array | undefined>>;
}

/**
 * A block a tree links to is not there: the tree is held only in part (a clone in progress,
 * a reader that cannot reach every peer). Distinct from an unknown root (NOTFOUND), and it
 * carries the id so a caller can fetch that block elsewhere and retry.
 */
export class MissingBlockError extends CrissError {
  readonly id: Id;

  constructor(id: Id) {
    super('MISSINGBLOCK', `block ${idToText(id)} is missing: the tree is stored here only in part`);
    this.name = 'MissingBlockError';
    this.id = id;
  }
}

interface Cached {
  node: TreeNode;
  /** Its footprint when queued: what leaving the queue gives back. */
  bytes: number;
  /** Another node whose id shares this slot (30 bits of the digest). */
  next: Cached | undefined;
}

/** Whatever the reader (a disk, a peer) returns is hashed before it is trusted. */
function verified(id: Id, bytes: Uint8Array): TreeNode {
  if (!idEquals(idOf(bytes), id)) throw new CrissError('BADBLOCK', `block ${idToText(id)} does not match its hash`);
  return TreeNode.parse(Buffer.from(id), bytes);
}

/** A Map slot from 30 bits of the digest: a number key hashes far faster than a string. */
function slotAt(b: Uint8Array, o: number): number {
  const d = o + ID_PREFIX_BYTES;
  return ((b[d] << 22) | (b[d + 1] << 14) | (b[d + 2] << 6) | (b[d + 3] & 0x3f)) >>> 0;
}

function idAt(node: TreeNode, b: Uint8Array, o: number): boolean {
  const id = node.id;
  for (let i = ID_BYTES - 1; i >= ID_PREFIX_BYTES; i--) if (id[i] !== b[o + i]) return false;
  return true;
}

/** On the JS heap: the TreeNode object (~210 bytes) and its seven typed arrays (~90 each: id, bytes, two offset arrays, counts, sizes, words). */
const NODE_OBJECTS = 840;

/**
 * What a cached node holds, by which the cache is bounded: its bytes, and per entry its offsets
 * (4 + 4 bytes, in a slab), its search word and the copy of its key offset (4 + 4, measured on
 * its first read) and, in an internal node, its child's count and size (8 + 8), and the delta
 * record the store keeps with it (TreeNode.stored: set once its write lands, so counted from the
 * node's next queueing). Counting the bytes alone, a cache bounded at 256 MiB held ~400 MiB
 * (docs/benchmarks.md).
 */
function footprint(node: TreeNode): number {
  return node.bytes.length + node.length * (node.level > 0 ? 32 : 16) + NODE_OBJECTS + (node.stored?.delta?.length ?? 0);
}

/** Reads a node may bank against eviction: each lets it pass the head of the main queue once more. */
const MAX_FREQ = 3;
/** The share of the cache for nodes a forking write created, before they are read. */
const FORK_SHARE = 0.1;

/** Nodes in the order they were queued (a Map keeps insertion order), each slot a chain of ids sharing 30 bits. */
class Queue {
  readonly slots = new Map<number, Cached>();
  bytes = 0;

  find(slot: number, b: Uint8Array, o: number): Cached | undefined {
    let c = this.slots.get(slot);
    while (c !== undefined && !idAt(c.node, b, o)) c = c.next;
    return c;
  }

  /** Queues a node at the tail (behind the slot's position, when another node already holds the slot). */
  push(slot: number, node: TreeNode): void {
    const bytes = footprint(node);
    this.slots.set(slot, { node, bytes, next: this.slots.get(slot) });
    this.bytes += bytes;
  }

  /** Takes `c`, the head of its slot's chain, out of the queue. */
  remove(slot: number, c: Cached): void {
    if (c.next === undefined) this.slots.delete(slot);
    else this.slots.set(slot, c.next);
    this.bytes -= c.bytes;
  }

  /** Takes `c` out of the queue, wherever it is in its slot's chain. */
  take(slot: number, c: Cached): void {
    let p = this.slots.get(slot);
    if (p === c) return this.remove(slot, c);
    while (p !== undefined && p.next !== c) p = p.next;
    if (p === undefined) return;
    p.next = c.next;
    this.bytes -= c.bytes;
  }
}

/**
 * Parsed nodes by id, bounded by bytes. A hit answers synchronously (warm reads never await),
 * and only counts: nodes are queued in insertion order with a small read count each (S3-FIFO's
 * queues, SIEVE's visited bit made a counter). At the head of the main queue, a node read since
 * it last passed goes to the tail with one read fewer, and one that was not read leaves.
 *
 * A write on a root that an earlier write already built on forks the tree, and its new nodes go
 * to a small queue of their own: 50 writers each putting one key on one base tree create four
 * nodes a put that nobody reads, and in one queue they pushed the base tree's leaves out (reloaded
 * from disk on a third of the puts, docs/benchmarks.md). Leaving that queue, a node that was read
 * joins the main queue; the others are dropped. A chain of writes, each on the last one's root,
 * never forks: what it creates is the live tree, and joins the main queue at once.
 *
 * A node reached through its parent's link (TreeNode.knownChild) skips the lookup, so walks
 * count it with `touch`. Those links are strong, so an eviction undoes every link to the node it
 * evicts (TreeNode.uncached).
 */
export class NodeLoader {
  private readonly reader: BlockReader;
  private readonly maxBytes: number;
  private readonly main = new Queue();
  private readonly forks = new Queue();
  private readonly loading = new Map<string, Promise<TreeNode>>();
  private readonly epoch: () => number;
  private inserted = 0;
  hits = 0;
  misses = 0;

  /** `epoch` stamps every node read or added (TreeNode.epoch); the empty node keeps 0. */
  constructor(reader: BlockReader, maxBytes = 256 * 1024 * 1024, epoch: () => number = () => 0) {
    this.reader = reader;
    this.maxBytes = maxBytes;
    this.epoch = epoch;
    this.add(EMPTY_NODE);
  }

  get cachedBytes(): number {
    return this.main.bytes + this.forks.bytes;
  }

  peek(id: Id): TreeNode | undefined {
    return this.peekAt(id, 0);
  }

  /** The cached node whose id is the ID_BYTES at `b[o]`, without slicing them out. */
  peekAt(b: Uint8Array, o: number): TreeNode | undefined {
    const slot = slotAt(b, o);
    const c = this.main.find(slot, b, o) ?? this.forks.find(slot, b, o);
    if (c === undefined) return undefined;
    this.hits++;
    if (c.node.cacheFreq < MAX_FREQ) c.node.cacheFreq++;
    return c.node;
  }

  /**
   * A node reached without a lookup is a hit too. Once in `maxBytes` of insertions it is looked
   * up, and cached again if this cache let it go while another one keeps its parents' links.
   */
  touch(node: TreeNode): void {
    if (node.cacheFreq < MAX_FREQ) node.cacheFreq++;
    if (this.inserted - node.cacheStamp <= this.maxBytes) return;
    node.cacheStamp = this.inserted;
    if (this.peekAt(node.id, 0) === undefined) this.add(node, node.epoch);
  }

  /** A tree's root node, synchronously when cached. Rejects NOTFOUND when no reader has it. */
  get(id: Id): TreeNode | Promise<TreeNode> {
    return this.peek(id) ?? this.load(id).catch((e: unknown) => {
      throw e instanceof MissingBlockError && idEquals(e.id, id) ? new CrissError('NOTFOUND', `tree ${idToText(id)} not found`) : e;
    });
  }

  /** A node a parent links to, synchronously when cached. Rejects MissingBlockError when no reader has it. */
  child(id: Id): TreeNode | Promise<TreeNode> {
    return this.peek(id) ?? this.load(id);
  }

  /** Several children at once: cached ones directly, the rest in one batched read. */
  async getMany(ids: Id[]): Promise<TreeNode[]> {
    const out: Array<TreeNode | undefined> = ids.map((id) => this.peek(id));
    const missing = ids.filter((_, i) => out[i] === undefined);
    if (missing.length > 1 && this.reader.getBlocks !== undefined) {
      this.misses += missing.length;
      const epoch = this.epoch();
      const blocks = await this.reader.getBlocks(missing);
      missing.forEach((id, i) => {
        const bytes = blocks[i];
        if (bytes === undefined) throw new MissingBlockError(id);
        this.add(verified(id, bytes), epoch);
      });
    }
    return Promise.all(ids.map((id, i) => out[i] ?? this.child(id)));
  }

  private load(id: Id): Promise<TreeNode> {
    const key = idKey(id);
    let p = this.loading.get(key);
    if (p !== undefined) return p;
    this.misses++;
    const epoch = this.epoch();
    p = this.reader.getBlock(id).then((bytes) => {
      if (bytes === undefined) throw new MissingBlockError(id);
      const node = verified(id, bytes);
      this.add(node, epoch);
      return node;
    }).finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  /**
   * Caches a node known to be in the store as of `epoch` (by default: now); `forked`: created by
   * a write on a root an earlier write built on.
   */
  add(node: TreeNode, epoch = this.epoch(), forked = false): void {
    const known = this.peekAt(node.id, 0);
    if (node !== EMPTY_NODE) (known ?? node).epoch = epoch;
    if (known !== undefined) return;
    node.cacheStamp = this.inserted;
    if (node.cachedIn++ === 0) node.settled();
    (forked ? this.forks : this.main).push(slotAt(node.id, 0), node);
    this.inserted += footprint(node);
    if (this.cachedBytes > this.maxBytes) this.evict();
  }

  /**
   * A node that a chain of writes replaced: likely dead (only readers of older roots still reach
   * it), it leaves the main queue for the small one, and goes back only if read there. Left in
   * the main queue, random writes' dead nodes filled it until live ones reached its head unread:
   * into a 1M-key tree, a quarter of the leaves a write needed were read from disk again.
   */
  retire(node: TreeNode): void {
    if (node === EMPTY_NODE) return;
    const slot = slotAt(node.id, 0);
    const c = this.main.find(slot, node.id, 0);
    if (c === undefined) return;
    this.main.take(slot, c);
    node.cacheFreq = 0;
    this.forks.push(slot, node);
  }

  private evict(): void {
    const { main, forks } = this;
    const share = this.maxBytes * FORK_SHARE;
    if (forks.bytes > share) {
      for (const [slot, c] of forks.slots) {
        if (forks.bytes <= share * 0.9) break;
        forks.remove(slot, c);
        if (c.node.cacheFreq > 0) {
          c.node.cacheStamp = this.inserted;
          main.push(slot, c.node);
        } else this.drop(c.node);
      }
    }
    const limit = this.maxBytes * 0.9;
    for (const [slot, c] of main.slots) {
      if (main.bytes + forks.bytes <= limit) break;
      const node = c.node;
      if (node === EMPTY_NODE) continue;
      main.remove(slot, c);
      if (node.cacheFreq > 0) {
        // Read since it last passed: to the tail, one read spent.
        node.cacheFreq--;
        node.cacheStamp = this.inserted;
        main.push(slot, node);
      } else this.drop(node);
    }
  }

  private drop(node: TreeNode): void {
    if (--node.cachedIn === 0) node.uncached();
  }
}
