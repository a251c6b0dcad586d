import { Buffer } from 'node:buffer';
import { compareAt, skipValue } from '../codec/index.ts';
import { smallIntAt, tupleLeadAt } from '../codec/compare.ts';
import { ByteWriter, writeExt, writeInt } from '../codec/encode.ts';
import { BIN8, EXT_LINK, RANK_LINK, RANK_NUMBER } from '../codec/format.ts';
import { Head, readHead } from '../codec/head.ts';
import { CrissError } from '../errors.ts';
import { ID_BYTES, type Id, LINK_BYTES, LINK_HEADER_BYTES, idOf } from '../store/id.ts';
import type { StoredRecord } from '../store/records.ts';
import { INLINE_MAX, checkRefAt, isRefAt, refLength } from './blob.ts';
import { keyLevel } from './level.ts';
import { type NodeArrays, type Slab, type Tenant, nodeArrays, nodeSpace, settle, vacate, wordArray } from './slab.ts';

/** Largest block a node may take (docs/format.md §7). */
export const MAX_NODE_BYTES = 64 * 1024 * 1024;

/** The node format version written as the first element of every node (docs/format.md §4). */
export const NODE_VERSION = 1;

/** One entry of a level: a key and the canonical bytes that follow it in the node. */
export interface Entry {
  key: Uint8Array;
  /** Leaf: the value. Internal: link, entry count and byte size of the child, back to back. */
  val: Uint8Array;
}

/**
 * A parsed, immutable node. Entries stay inside the block's bytes and are addressed by
 * offsets, so a cached node costs its bytes plus three small typed arrays.
 */
export class TreeNode implements Tenant {
  readonly id: Id;
  /** Its bytes and arrays may move to another slab (`relocate`) with the same contents; the old ones stay valid. */
  bytes: Uint8Array;
  readonly level: number;
  /** Key i spans [keyStart[i], valStart[i]); its value [valStart[i], keyStart[i + 1]). */
  keyStart: Uint32Array;
  valStart: Uint32Array;
  /** Internal nodes: per child, its entry count and the byte size of its subtree. */
  counts: Float64Array | null;
  sizes: Float64Array | null;
  /** Entries in this subtree and bytes of every block in it, blobs included. */
  readonly count: number;
  readonly size: number;
  /** Entries: a field, not `valStart.length`, so a search does not load the offset array's object to bound itself. */
  readonly length: number;

  /** Use `TreeNode.parse` or `TreeNode.build`; the constructor trusts its offsets. */
  constructor(id: Id, bytes: Uint8Array, level: number, keyStart: Uint32Array, valStart: Uint32Array,
    counts: Float64Array | null, sizes: Float64Array | null) {
    this.id = id;
    this.bytes = bytes;
    this.level = level;
    this.keyStart = keyStart;
    this.valStart = valStart;
    this.counts = counts;
    this.sizes = sizes;
    const n = valStart.length;
    this.length = n;
    let count = n;
    let size = bytes.length;
    if (counts !== null && sizes !== null) {
      count = 0;
      for (let i = 0; i < n; i++) {
        count += counts[i];
        size += sizes[i];
      }
    } else {
      for (let i = 0; i < n; i++) if (isRefAt(bytes, valStart[i])) size += refLength(bytes, valStart[i]);
    }
    this.count = count;
    this.size = size;
  }

  key(i: number): Uint8Array {
    return this.bytes.subarray(this.keyStart[i], this.valStart[i]);
  }

  val(i: number): Uint8Array {
    return this.bytes.subarray(this.valStart[i], this.keyStart[i + 1]);
  }

  entry(i: number): Entry {
    return { key: this.key(i), val: this.val(i) };
  }

  /** The child id of entry i of an internal node (the link's payload). */
  child(i: number): Id {
    const s = this.valStart[i] + LINK_HEADER_BYTES;
    return this.bytes.subarray(s, s + ID_BYTES);
  }

  /**
   * Garbage-collection sweeps finished when this node was last known to be in the store (read
   * from it, or created): a write building on it after a later sweep has it checked first.
   */
  epoch = 0;

  /** NodeLoader's: how many bytes it had inserted in all when it last queued this node. */
  cacheStamp = 0;
  /** NodeLoader's: reads since the node last passed the head of its queue (at most 3). */
  cacheFreq = 0;
  /** Writes that built on this node as their root: a second one forks the tree (NodeLoader). */
  rewrites = 0;
  /** How the store keeps this node, once a write of it landed here: the next write on it reads it here. */
  stored: StoredRecord | undefined = undefined;

  private lastKeyLevel = -1;
  /** `sharedPrefix`'s measure: -1 until taken. */
  private prefixFamily = -1;
  private prefixLen = 0;
  /**
   * The shared prefix as 3-byte words (`prefixWords` of them), then per key the 30 high bits of
   * its next four bytes, then a copy of `keyStart` (from `startsAt`): one array of 32-bit words
   * in a slab, so a search reads no key byte until words tie, and a read of a cold leaf finds
   * its key offsets in the array it already missed on, not in one more (−6 % CPU a FETCHBIN on
   * the command path; words of four bytes rather than numbers of eight on the JS heap, −16 %:
   * docs/benchmarks.md).
   */
  private probe: Int32Array = NO_WORDS;
  private prefixWords = 0;
  /** `leads`' measure: undefined until taken, null when the keys are not all of one lead kind. */
  private leadArray: number[] | null | undefined;
  /** 1: every key is an integer of at most 32 bits; 2: every key a tuple led by one (tupleLeadAt). */
  private leadKind = 0;
  /** How many NodeLoaders cache this node (theirs to count): a parent links to it only while one does. */
  cachedIn = 0;
  /** The slab its arrays (and, for a node built here, its bytes) were carved from; null: buffers of their own. */
  home: Slab | null = null;
  /** Its bytes lie in `home` too: a node read from the store keeps the buffer it was read into. */
  homeHoldsBytes = false;
  /** tree/slab's: its place among `home`'s tenants while a cache holds it. */
  tenantAt = -1;
  /**
   * Children found before, held strongly so a warm read walks parent to child with neither a
   * cache lookup nor a WeakRef `deref` (which adds its target to V8's keep-alive set on every
   * call): a link is made only to a cached child and undone when the last cache lets the child
   * go (`unlinkParents`), so the node cache alone still decides what stays in memory.
   */
  private kids: Array<TreeNode | undefined> | undefined;
  /** The parents linking here, weakly, each followed by the entry it links from. */
  private linkedFrom: Array<WeakRef<TreeNode> | number> | undefined;
  /** Links `linkedFrom` may hold before the dead and stale ones are dropped (it holds one per parent version read). */
  private linkLimit = MIN_LINKS;

  knownChild(i: number): TreeNode | undefined {
    const kids = this.kids;
    return kids === undefined ? undefined : kids[i];
  }

  rememberChild(i: number, child: TreeNode): void {
    if (child.cachedIn === 0) return;
    const kids = (this.kids ??= new Array<TreeNode | undefined>(this.length));
    if (kids[i] === child) return;
    kids[i] = child;
    child.linkFrom(this, i);
  }

  /** A cache took this node: its slab counts it as a tenant. */
  settled(): void {
    settle(this.home, this);
  }

  /** No cache holds this node any longer: no parent may keep it alive, nor its slab count it. */
  uncached(): void {
    this.unlinkParents();
    vacate(this.home, this);
  }

  /** Moves the node's bytes (when in its slab) and arrays to the slab being filled. */
  relocate(): void {
    const internal = this.counts !== null;
    let space: NodeArrays & { slab: Slab | null };
    if (this.homeHoldsBytes) {
      const built = nodeSpace(this.bytes.length, this.length, internal);
      built.bytes.set(this.bytes);
      this.bytes = built.bytes;
      space = built;
    } else space = nodeArrays(this.length, internal);
    space.keyStart.set(this.keyStart);
    space.valStart.set(this.valStart);
    if (this.counts !== null && this.sizes !== null && space.counts !== null && space.sizes !== null) {
      space.counts.set(this.counts);
      space.sizes.set(this.sizes);
    }
    this.keyStart = space.keyStart;
    this.valStart = space.valStart;
    this.counts = space.counts;
    this.sizes = space.sizes;
    this.home = space.slab;
    settle(space.slab, this);
  }

  private unlinkParents(): void {
    const from = this.linkedFrom;
    if (from === undefined) return;
    this.linkedFrom = undefined;
    this.linkLimit = MIN_LINKS;
    for (let j = 0; j < from.length; j += 2) {
      const kids = (from[j] as WeakRef<TreeNode>).deref()?.kids;
      const i = from[j + 1] as number;
      if (kids !== undefined && kids[i] === this) kids[i] = undefined;
    }
  }

  private linkFrom(parent: TreeNode, i: number): void {
    let from = this.linkedFrom;
    if (from === undefined) {
      // Most nodes have one parent: an array of exactly one link, not a default-sized one.
      this.linkedFrom = [new WeakRef(parent), i];
      return;
    }
    if (from.length >= 2 * this.linkLimit) {
      const live: Array<WeakRef<TreeNode> | number> = [];
      for (let j = 0; j < from.length; j += 2) {
        const kids = (from[j] as WeakRef<TreeNode>).deref()?.kids;
        if (kids !== undefined && kids[from[j + 1] as number] === this) live.push(from[j], from[j + 1]);
      }
      from = this.linkedFrom = live;
      this.linkLimit = Math.max(MIN_LINKS, live.length);
    }
    from.push(new WeakRef(parent), i);
  }

  /** The level of the last key (docs/format.md §5), computed once per node. */
  lastLevel(): number {
    if (this.lastKeyLevel < 0) {
      const i = this.length - 1;
      this.lastKeyLevel = keyLevel(this.bytes, this.keyStart[i], this.valStart[i]);
    }
    return this.lastKeyLevel;
  }

  lastKey(): Uint8Array | null {
    return this.length === 0 ? null : this.key(this.length - 1);
  }

  /**
   * Every key's integer (kind 1) or tuple's leading integer (kind 2), dense, when all keys are
   * of one kind (SQL row trees keyed by INTEGER PRIMARY KEY, SQL indexes led by an integer
   * column), measured once: a search probe then reads a number, not a key. Ordered as the keys
   * are, ties (kind 2) aside.
   */
  private leads(): number[] | null {
    if (this.leadArray === undefined) {
      const n = this.length;
      const b = this.bytes;
      const ks = this.keyStart;
      let kind = n === 0 ? 0 : !Number.isNaN(smallIntAt(b, ks[0])) ? 1 : !Number.isNaN(tupleLeadAt(b, ks[0])) ? 2 : 0;
      const out = new Array<number>(n);
      for (let i = 0; i < n && kind !== 0; i++) {
        const v = kind === 1 ? smallIntAt(b, ks[i]) : tupleLeadAt(b, ks[i]);
        if (Number.isNaN(v)) kind = 0;
        out[i] = v;
      }
      this.leadKind = kind;
      this.leadArray = kind === 0 ? null : out;
    }
    return this.leadArray;
  }

  /** Compares `key` with entry i's key. */
  compareKey(key: Uint8Array, i: number): number {
    const k = tupleLeadAt(key, 0);
    if (!Number.isNaN(k)) {
      const leads = this.leads();
      const m = leads !== null && this.leadKind === 2 ? leads[i] : tupleLeadAt(this.bytes, this.keyStart[i]);
      if (m !== k && !Number.isNaN(m)) return k < m ? -1 : 1;
    }
    return compareAt(key, 0, this.bytes, this.keyStart[i], 0);
  }

  /** Index of the first entry at or after `from` whose key is >= `key`, or `length` if none. */
  lowerBound(key: Uint8Array, from = 0): number {
    const t = key[0];
    // Bytes and short strings are nearly every key: compare their payloads here, without
    // re-reading the search key's header on every probe.
    const family = t === BIN8 ? 1 : t >= 0xa0 && t <= 0xbf ? 2 : 0;
    const b = this.bytes;
    let lo = from;
    let hi = this.length;
    const n = family === 0 ? smallIntAt(key, 0) : NaN;
    if (!Number.isNaN(n)) {
      const leads = this.leads();
      if (leads !== null && this.leadKind === 1) {
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (n > leads[mid]) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      }
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const p = this.keyStart[mid];
        const m = smallIntAt(b, p);
        if (Number.isNaN(m) ? compareAt(key, 0, b, p, 0) > 0 : n > m) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }
    if (family === 0) {
      // Tuples led by a small integer (SQL index keys): compare the leading items first.
      const k = tupleLeadAt(key, 0);
      if (!Number.isNaN(k)) {
        const leads = this.leads();
        if (leads !== null && this.leadKind === 2) {
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            const m = leads[mid];
            if (m === k ? compareAt(key, 0, b, this.keyStart[mid], 0) > 0 : k > m) lo = mid + 1;
            else hi = mid;
          }
          return lo;
        }
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const p = this.keyStart[mid];
          const m = tupleLeadAt(b, p);
          if (m === k || Number.isNaN(m) ? compareAt(key, 0, b, p, 0) > 0 : k > m) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      }
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareAt(key, 0, b, this.keyStart[mid], 0) > 0) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }
    const ks = family === 1 ? 2 : 1;
    const kl = family === 1 ? key[1] : t & 0x1f;
    const shared = this.sharedPrefix(family);
    if (shared >= 0) return this.lowerBoundPast(key, ks, kl, family, shared, lo);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.keyStart[mid];
      const u = b[p];
      let c: number;
      if (family === 1 ? u === BIN8 : u >= 0xa0 && u <= 0xbf) {
        c = comparePayload(key, ks, kl, b, p + ks, family === 1 ? b[p + 1] : u & 0x1f);
      } else {
        c = compareAt(key, 0, b, p, 0);
      }
      if (c > 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * `lowerBound` in a node whose keys all have `family`'s header and share their first `shared`
   * payload bytes: the search key is checked against that prefix once, then the search runs over
   * the key words of `probe` and compares whole keys only where those words tie.
   */
  private lowerBoundPast(key: Uint8Array, ks: number, kl: number, family: number, shared: number, from: number): number {
    const words = this.probe;
    const pw = this.prefixWords;
    if (kl < shared) {
      const b = this.bytes;
      const first = this.keyStart[0] + ks;
      for (let i = 0; i < kl; i++) {
        const d = key[ks + i] - b[first + i];
        if (d !== 0) return d < 0 ? from : this.length;
      }
      return from;
    }
    for (let j = 0; j < pw; j++) {
      const at = 3 * j;
      const d = prefixWordAt(key, ks + at, shared - at) - words[j];
      if (d !== 0) return d < 0 ? from : this.length;
    }
    const ka = ks + shared;
    const kr = kl - shared;
    const w = wordAt(key, ka, kr);
    let lo = from;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let c = w - words[pw + mid];
      if (c === 0) {
        const b = this.bytes;
        const p = words[pw + this.length + mid];
        const bl = family === 1 ? b[p + 1] : b[p] & 0x1f;
        c = comparePayload(key, ka, kr, b, p + ks + shared, bl - shared);
      }
      if (c > 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Leaf: the value of `key`, or undefined. Canonical encodings are equal exactly when their
   * bytes are, and an encoding delimits itself, so the key's bytes found at entry i's start are
   * that entry's whole key: the value starts right after them (`valStart` is not read).
   */
  valueOf(key: Uint8Array): Uint8Array | undefined {
    const i = this.lowerBound(key);
    if (i === this.length) return undefined;
    const o = this.startsAt();
    const pr = this.probe;
    const ks = this.keyStart;
    const p = o < 0 ? ks[i] : pr[o + i];
    const n = key.length;
    const end = o < 0 ? ks[i + 1] : pr[o + i + 1];
    if (p + n > end) return undefined;
    const b = this.bytes;
    for (let j = n - 1; j >= 0; j--) if (key[j] !== b[p + j]) return undefined;
    return b.subarray(p + n, end);
  }

  /** Where `probe`'s copy of `keyStart` begins, or -1 while there is none. */
  private startsAt(): number {
    return this.prefixFamily > 0 ? this.prefixWords + this.length : -1;
  }

  /** Payload bytes every key shares when all have `family`'s header (1 bin8, 2 fixstr), else -1; measured once. */
  private sharedPrefix(family: number): number {
    if (this.prefixFamily < 0) this.measurePrefix();
    return this.prefixFamily === family ? this.prefixLen : -1;
  }

  private measurePrefix(): void {
    const n = this.length;
    const b = this.bytes;
    const ks = this.keyStart;
    let family = n === 0 ? 0 : familyOf(b[ks[0]]);
    for (let i = 1; i < n && family !== 0; i++) if (familyOf(b[ks[i]]) !== family) family = 0;
    let len = 0;
    if (family !== 0) {
      // Keys are sorted by payload, so what the first and last share, every key between shares.
      const skip = family === 1 ? 2 : 1;
      const lengthOf = (p: number): number => (family === 1 ? b[p + 1] : b[p] & 0x1f);
      const a = ks[0];
      const z = ks[n - 1];
      const m = Math.min(lengthOf(a), lengthOf(z));
      while (len < m && b[a + skip + len] === b[z + skip + len]) len++;
      const pw = Math.ceil(len / 3);
      const words = wordArray(pw + n + n + 1);
      for (let j = 0; j < pw; j++) words[j] = prefixWordAt(b, a + skip + 3 * j, len - 3 * j);
      for (let i = 0; i < n; i++) words[pw + i] = wordAt(b, ks[i] + skip + len, lengthOf(ks[i]) - len);
      for (let i = 0; i <= n; i++) words[pw + n + i] = ks[i];
      this.probe = words;
      this.prefixWords = pw;
    }
    this.prefixFamily = family;
    this.prefixLen = len;
  }

  /**
   * Parses and fully validates a block: canonical encoding, ascending keys, boundaries where
   * the splitting rule puts them. A block that fails is rejected as BADBLOCK, never half-used.
   */
  static parse(id: Id, bytes: Uint8Array): TreeNode {
    try {
      if (bytes.length > MAX_NODE_BYTES) throw new Error('over the block size limit');
      return parseNode(id, bytes);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new CrissError('BADBLOCK', `block ${Buffer.from(id).toString('hex')} is not a valid tree node: ${why}`);
    }
  }
}

/** The `val` of an internal entry pointing at `child`. */
export function childEntryVal(child: TreeNode): Uint8Array {
  // Room for the link and two uint64s, the most a count and a size take.
  const w = new ByteWriter(LINK_BYTES + 18);
  writeExt(w, EXT_LINK, child.id);
  writeInt(w, child.count);
  writeInt(w, child.size);
  return w.finish();
}

const head = new Head();

function parseNode(id: Id, b: Uint8Array): TreeNode {
  readHead(b, 0, head);
  if (head.tag !== 0x92 && head.tag !== 0xdc && head.tag !== 0xdd && (head.tag & 0xf0) !== 0x90) throw new Error('not an array');
  const items = head.len;
  // Leaves may hold blob references, which are not values: they are checked entry by entry
  // below; the strict pass over the whole node covers everything else.
  if (b[head.start + 1] === 0) checkLeafHead(b, head.start, items);
  else if (skipValue(b, 0) !== b.length) throw new Error('trailing bytes');
  const version = readUint(b, head.start);
  if (version.value !== NODE_VERSION) throw new Error('unknown node version');
  const lvl = readUint(b, version.end);
  const level = lvl.value;
  if (level > 32) throw new Error('bad level');
  let p = lvl.end;
  const per = level === 0 ? 2 : 4;
  if ((items - 2) % per !== 0) throw new Error('entry count does not fit the node kind');
  const n = (items - 2) / per;
  if (n === 0 && level > 0) throw new Error('an internal node has no children');
  const { keyStart, valStart, counts, sizes, slab } = nodeArrays(n, level > 0);
  for (let i = 0; i < n; i++) {
    keyStart[i] = p;
    p = skipValue(b, p);
    if (i > 0 && compareAt(b, keyStart[i - 1], b, keyStart[i], 0) >= 0) throw new Error('keys not ascending');
    if (i < n - 1 && keyLevel(b, keyStart[i], p) > level) throw new Error('a boundary key is not last');
    valStart[i] = p;
    if (counts === null || sizes === null) {
      if (isRefAt(b, p)) p = checkRefAt(b, p);
      else {
        p = skipValue(b, p);
        if (p - valStart[i] > INLINE_MAX) throw new Error('a value too large to be inline');
      }
      continue;
    }
    readHead(b, p, head);
    // The strict pass above already proved a link canonical: LINK_HEADER, then a sha2-256 multihash.
    if (head.rank !== RANK_LINK) throw new Error('child is not a link');
    p = head.start + head.len;
    const count = readUint(b, p);
    const size = readUint(b, count.end);
    if (count.value < 1 || size.value < 1) throw new Error('bad child count or size');
    counts[i] = count.value;
    sizes[i] = size.value;
    p = size.end;
  }
  keyStart[n] = p;
  if (p !== b.length) throw new Error('trailing bytes');
  const node = new TreeNode(id, b, level, keyStart, valStart, counts, sizes);
  node.home = slab;
  return node;
}

/** What the strict pass would check of a leaf's array header, version and level. */
function checkLeafHead(b: Uint8Array, start: number, items: number): void {
  const canonical = items <= 15 ? 1 : items <= 0xffff ? 3 : 5;
  if (start !== canonical) throw new Error('malformed msgpack: the array header is not in its shortest form');
  if (b[start] !== NODE_VERSION) throw new Error('unknown node version');
}

const NO_WORDS = new Int32Array(0);
const MIN_LINKS = 4;

/**
 * The 30 high bits of the `len` bytes at `p` (at most four, zero-padded) read big-endian: a Smi
 * whatever the bytes. Two keys whose words differ order as their bytes do (a zero pad only ties
 * with a zero byte, and dropping low bits only turns differences into ties).
 */
function wordAt(b: Uint8Array, p: number, len: number): number {
  const b0 = len > 0 ? b[p] : 0;
  const b1 = len > 1 ? b[p + 1] : 0;
  const b2 = len > 2 ? b[p + 2] : 0;
  const b3 = len > 3 ? b[p + 3] : 0;
  return (b0 << 22) | (b1 << 14) | (b2 << 6) | (b3 >>> 2);
}

/** The `len` bytes at `p` (at most three, zero-padded) read big-endian: exact, and equal only for equal bytes when both sides have `len` of them. */
function prefixWordAt(b: Uint8Array, p: number, len: number): number {
  const b0 = b[p];
  const b1 = len > 1 ? b[p + 1] : 0;
  const b2 = len > 2 ? b[p + 2] : 0;
  return (b0 << 16) | (b1 << 8) | b2;
}

/** 1 for a bin8 header, 2 for a fixstr, 0 for anything else (`lowerBound`'s families). */
function familyOf(t: number): number {
  return t === BIN8 ? 1 : t >= 0xa0 && t <= 0xbf ? 2 : 0;
}

function comparePayload(a: Uint8Array, as: number, al: number, b: Uint8Array, bs: number, bl: number): number {
  const n = al < bl ? al : bl;
  for (let i = 0; i < n; i++) {
    const d = a[as + i] - b[bs + i];
    if (d !== 0) return d;
  }
  return al - bl;
}

export function readUint(b: Uint8Array, p: number): { value: number; end: number } {
  readHead(b, p, head);
  if (head.rank !== RANK_NUMBER || head.isFloat || head.big !== null || head.num < 0) throw new Error('expected a small unsigned integer');
  return { value: head.num, end: head.start };
}

/** The empty tree: a leaf with no entries. */
const EMPTY_BYTES = Buffer.from([0x92, NODE_VERSION, 0]);
export const EMPTY_NODE = TreeNode.parse(idOf(EMPTY_BYTES), EMPTY_BYTES);
