import { ByteWriter } from '../codec/encode.ts';
import { LINK_BYTES, idOf } from '../store/id.ts';
import { keyLevel } from './level.ts';
import { MAX_NODE_BYTES, NODE_VERSION, TreeNode, childEntryVal, readUint } from './node.ts';
import { CrissError } from '../errors.ts';
import { nodeSpace } from './slab.ts';

/** Byte length of a canonical unsigned integer from its tag (our own encoding: no checks). */
function uintBytes(tag: number): number {
  return tag <= 0x7f ? 1 : tag === 0xcc ? 2 : tag === 0xcd ? 3 : tag === 0xce ? 5 : 9;
}

/** Reads a canonical unsigned integer we wrote ourselves, without allocating. */
function uintAt(b: Uint8Array, p: number): number {
  const t = b[p];
  if (t <= 0x7f) return t;
  if (t === 0xcc) return b[p + 1];
  if (t === 0xcd) return (b[p + 1] << 8) | b[p + 2];
  if (t === 0xce) return ((b[p + 1] << 24) >>> 0) + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
  return readUint(b, p).value;
}

/**
 * Scratch buffers of finished Chunkers: a one-key write makes one Chunker per level, and
 * allocating their buffers cost more than the write's hashing. Concurrent writes interleave
 * at awaits, so each Chunker holds its own set until it is released.
 */
const spare: Array<{ body: ByteWriter; keyOff: Uint32Array; valOff: Uint32Array }> = [];
/** Enough for every Chunker of 50 concurrent one-key writes on a 4-level tree. */
const MAX_SPARE = 256;

/** A change for the level above: the entry of a replaced (`val` null) or a new child. */
export interface UpMutation {
  key: Uint8Array;
  val: Uint8Array | null;
}

/**
 * Byte runs a new node copied from old nodes: run i is `runs[3i]` (offset in the new node),
 * `runs[3i + 1]` (offset in `from[i]`'s bytes) and `runs[3i + 2]` (length). The store makes the
 * node's delta against the node it replaces from these, instead of searching for them.
 */
export interface CopiedRuns {
  from: TreeNode[];
  runs: number[];
}

/**
 * Accumulates the entries of one level in order and cuts them into nodes at key-derived
 * boundaries. Unchanged runs of an old node are copied as one block of bytes: inside a node
 * only its last entry can be a boundary, so a run that stops before it needs no per-entry work.
 */
export class Chunker {
  private readonly level: number;
  private readonly body: ByteWriter;
  private keyOff: Uint32Array;
  private valOff: Uint32Array;
  private n = 0;
  readonly created: TreeNode[];
  /** Parallel to `created`: what each node copied. */
  readonly copied: CopiedRuns[];
  readonly up: UpMutation[] = [];
  private from: TreeNode[] = [];
  private runs: number[] = [];

  constructor(level: number, created: TreeNode[], copied: CopiedRuns[]) {
    this.level = level;
    this.created = created;
    this.copied = copied;
    const s = spare.pop();
    this.body = s?.body ?? new ByteWriter(4096);
    this.keyOff = s?.keyOff ?? new Uint32Array(64);
    this.valOff = s?.valOff ?? new Uint32Array(64);
  }

  /** Hands the scratch buffers to the next Chunker; this one must not be used after. */
  release(): void {
    this.body.pos = 0;
    if (spare.length < MAX_SPARE) spare.push({ body: this.body, keyOff: this.keyOff, valOff: this.valOff });
  }

  get pending(): number {
    return this.n;
  }

  /** Copies entries [from, to) of `node`, cutting after its last entry if that is a boundary. */
  copy(node: TreeNode, from: number, to: number): void {
    if (from >= to) return;
    const last = node.length - 1;
    const end = to - 1 === last ? to - 1 : to;
    if (from < end) {
      const base = node.keyStart[from];
      const shift = this.body.pos - base;
      this.reserve(end - from);
      for (let i = from; i < end; i++) {
        this.keyOff[this.n] = node.keyStart[i] + shift;
        this.valOff[this.n] = node.valStart[i] + shift;
        this.n++;
      }
      this.copiedRun(node, base, node.keyStart[end] - base);
      this.body.bytes(node.bytes.subarray(base, node.keyStart[end]));
    }
    if (to - 1 === last) {
      this.add(node, node.keyStart[last], node.valStart[last], node.keyStart[last + 1], node.lastLevel());
    }
  }

  /** Adds one entry given as key and value bytes; `keyFrom` holds the same key at `keyAt` (the entry it replaces). */
  put(key: Uint8Array, val: Uint8Array, keyFrom?: TreeNode, keyAt = 0): void {
    this.reserve(1);
    this.keyOff[this.n] = this.body.pos;
    if (keyFrom !== undefined) this.copiedRun(keyFrom, keyAt, key.length);
    this.body.bytes(key);
    this.valOff[this.n] = this.body.pos;
    this.body.bytes(val);
    this.n++;
    if (keyLevel(key) > this.level) this.cut();
  }

  /** Notes that the next `len` body bytes are `src`'s bytes at `at`, as one run with the last when contiguous in both. */
  private copiedRun(src: TreeNode, at: number, len: number): void {
    const runs = this.runs;
    const r = runs.length - 3;
    const pos = this.body.pos;
    if (r >= 0 && this.from[this.from.length - 1] === src && runs[r] + runs[r + 2] === pos && runs[r + 1] + runs[r + 2] === at) runs[r + 2] += len;
    else {
      runs.push(pos, at, len);
      this.from.push(src);
    }
  }

  private add(src: TreeNode, ks: number, vs: number, end: number, level: number): void {
    this.reserve(1);
    this.keyOff[this.n] = this.body.pos;
    this.valOff[this.n] = this.body.pos + (vs - ks);
    this.copiedRun(src, ks, end - ks);
    this.body.bytes(src.bytes.subarray(ks, end));
    this.n++;
    if (level > this.level) this.cut();
  }

  private reserve(extra: number): void {
    if (this.n + extra <= this.keyOff.length) return;
    let size = this.keyOff.length * 2;
    while (size < this.n + extra) size *= 2;
    const k = new Uint32Array(size);
    k.set(this.keyOff.subarray(0, this.n));
    const v = new Uint32Array(size);
    v.set(this.valOff.subarray(0, this.n));
    this.keyOff = k;
    this.valOff = v;
  }

  /** Ends the current node (a boundary, or the end of the level) and records it for the level above. */
  cut(): void {
    const n = this.n;
    if (n === 0) return;
    const items = 2 + n * (this.level === 0 ? 2 : 4);
    const head = items <= 15 ? 1 : items <= 0xffff ? 3 : 5;
    // Version and level are positive fixints: one byte each.
    const pre = head + 2;
    const total = pre + this.body.pos;
    if (total > MAX_NODE_BYTES) throw new CrissError('TOOBIG', `a node would take ${total} bytes, over the ${MAX_NODE_BYTES}-byte block limit`);
    const { bytes, keyStart, valStart, counts, sizes, slab } = nodeSpace(total, n, this.level > 0);
    if (head === 1) bytes[0] = 0x90 | items;
    else if (head === 3) {
      bytes[0] = 0xdc;
      bytes.writeUInt16BE(items, 1);
    } else {
      bytes[0] = 0xdd;
      bytes.writeUInt32BE(items, 1);
    }
    bytes[head] = NODE_VERSION;
    bytes[head + 1] = this.level;
    bytes.set(this.body.finish(), pre);
    for (let i = 0; i < n; i++) {
      keyStart[i] = this.keyOff[i] + pre;
      valStart[i] = this.valOff[i] + pre;
    }
    keyStart[n] = total;
    if (counts !== null && sizes !== null) {
      for (let i = 0; i < n; i++) {
        // A child's value is its link, then its count and size.
        const p = valStart[i] + LINK_BYTES;
        counts[i] = uintAt(bytes, p);
        sizes[i] = uintAt(bytes, p + uintBytes(bytes[p]));
      }
    }
    const node = new TreeNode(idOf(bytes), bytes, this.level, keyStart, valStart, counts, sizes);
    node.home = slab;
    node.homeHoldsBytes = true;
    this.created.push(node);
    const runs = this.runs;
    for (let r = 0; r < runs.length; r += 3) runs[r] += pre;
    this.copied.push({ from: this.from, runs });
    this.from = [];
    this.runs = [];
    this.up.push({ key: node.key(n - 1), val: childEntryVal(node) });
    this.body.pos = 0;
    this.n = 0;
  }
}
