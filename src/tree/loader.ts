import { CrissError } from '../errors.ts';
import { type Id, idKey, idToText } from '../store/id.ts';
import { EMPTY_NODE, TreeNode } from './node.ts';

/**
 * The narrow interface the tree reads blocks through: the local block store today, blocks
 * fetched from peers later. A reader returns the exact bytes that were hashed.
 */
export interface BlockReader {
  getBlock(id: Id): Promise<Uint8Array | undefined>;
}

interface Cached {
  node: TreeNode;
  stamp: number;
}

/**
 * Parsed nodes by id, bounded by bytes. A hit answers synchronously (warm reads never await).
 * Eviction is insertion-ordered; a hit re-inserts an entry only once it has aged past half the
 * cache, which keeps hot nodes (roots, upper levels) resident without reordering on every read.
 */
export class NodeLoader {
  private readonly reader: BlockReader;
  private readonly maxBytes: number;
  private readonly nodes = new Map<string, Cached>();
  private readonly loading = new Map<string, Promise<TreeNode>>();
  private bytes = 0;
  private inserted = 0;
  hits = 0;
  misses = 0;

  constructor(reader: BlockReader, maxBytes = 256 * 1024 * 1024) {
    this.reader = reader;
    this.maxBytes = maxBytes;
    this.add(EMPTY_NODE);
  }

  get cachedBytes(): number {
    return this.bytes;
  }

  peek(id: Id): TreeNode | undefined {
    const key = idKey(id);
    const c = this.nodes.get(key);
    if (c === undefined) return undefined;
    this.hits++;
    if (this.inserted - c.stamp > this.maxBytes / 2) {
      this.nodes.delete(key);
      c.stamp = this.inserted;
      this.nodes.set(key, c);
    }
    return c.node;
  }

  /** The node, synchronously when cached. Rejects NOTFOUND when no reader has the block. */
  get(id: Id): TreeNode | Promise<TreeNode> {
    return this.peek(id) ?? this.load(id);
  }

  private load(id: Id): Promise<TreeNode> {
    const key = idKey(id);
    let p = this.loading.get(key);
    if (p !== undefined) return p;
    this.misses++;
    p = this.reader.getBlock(id).then((bytes) => {
      if (bytes === undefined) throw new CrissError('NOTFOUND', `tree ${idToText(id)} not found`);
      const node = TreeNode.parse(Buffer.from(id), bytes);
      this.add(node);
      return node;
    }).finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  add(node: TreeNode): void {
    const key = idKey(node.id);
    if (this.nodes.has(key)) return;
    const size = node.bytes.length + 64;
    this.nodes.set(key, { node, stamp: this.inserted });
    this.bytes += size;
    this.inserted += size;
    if (this.bytes <= this.maxBytes) return;
    for (const [k, c] of this.nodes) {
      if (this.bytes <= this.maxBytes * 0.9) break;
      if (c.node === EMPTY_NODE) continue;
      this.nodes.delete(k);
      this.bytes -= c.node.bytes.length + 64;
    }
  }
}
