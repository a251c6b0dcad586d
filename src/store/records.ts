import type { ChainedBatch, ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { applyDelta, encodeDelta, isDelta, keyframeOf } from './delta.ts';
import { encodeDeltaVia } from './delta-chain.ts';
import { ID_BYTES, type Id, idEquals, idKey, idToText } from './id.ts';
import { LOCATION_BYTES, type Location, type SegmentFiles, decodeLocation, encodeLocation } from './segments.ts';

/** Layouts up to 3 kept node records in LevelDB itself, under this prefix; they are still read. */
export const BLOCK = 0x62; // 'b'
/** A node's index entry: where its record lies in the segments (docs/format.md §8). */
export const NODE_AT = 0x6e; // 'n'

export function nodeKey(id: Uint8Array): Buffer {
  return prefixed(BLOCK, id);
}

export function nodeAtKey(id: Uint8Array): Buffer {
  return prefixed(NODE_AT, id);
}

function prefixed(prefix: number, id: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(1 + id.length);
  k[0] = prefix;
  k.set(id, 1);
  return k;
}

/** The record's location, then for a delta its keyframe's id: writers learn how a base is stored without reading it. */
export function indexEntry(at: Location, record: Uint8Array): Buffer {
  const delta = isDelta(record);
  const e = encodeLocation(at, Buffer.allocUnsafe(delta ? LOCATION_BYTES + ID_BYTES : LOCATION_BYTES));
  if (delta) e.set(keyframeOf(record), LOCATION_BYTES);
  return e;
}

/** Undefined: not stored; null: stored whole; else the keyframe the node is stored against. */
type StoredAs = Id | null | undefined;

/**
 * How a node this run wrote is stored, kept by the writer with the node itself (the tree's
 * cached node) so the next write on it finds its record without a lookup: random writes into a
 * 1M-key tree revisit a leaf only every ~30 writes, long after a cache of recent records had
 * let it go, and its keyframe was read from disk again to store the leaf's successor.
 */
export interface StoredRecord {
  /** The keyframe the node is stored against, or null when it is stored whole. */
  keyframe: Id | null;
  /** The node's delta record against `keyframe` (none when stored whole). */
  delta: Uint8Array | undefined;
  /** How often writes have replaced this node (see `recordOf`). */
  uses: number;
  /** Bytes of the deltas written against `keyframe` along the chain of edits that led to this node, its own included. */
  spent: number;
}

/** Where a writer keeps a node's StoredRecord once the write lands. */
export interface RecordHolder {
  stored?: StoredRecord | undefined;
}

/** A node to store; `base` is the node it replaces in its tree, which it may be stored against. */
export interface NewNode {
  id: Id;
  bytes: Uint8Array;
  base?: ({ id: Id; bytes: Uint8Array } & RecordHolder) | undefined;
  /** Byte runs the node shares with its base, as triples (offset in the node, offset in the base, length), when known. */
  copied?: readonly number[] | undefined;
  /** Told how the node was stored once the write lands; without it, the store remembers for a while itself. */
  holder?: RecordHolder | undefined;
}

/** A new node that may become a delta: `keyframe` is how its base is stored (null: whole; undefined: unknown, then absent). */
interface Candidate {
  at: number;
  node: NewNode;
  base: NonNullable<NewNode['base']>;
  keyframe: Id | null | undefined;
  /** The base's own delta record against `keyframe`, when cached: the node's delta is made from it. */
  via?: Uint8Array | undefined;
}

export interface StoredNode {
  bytes: Uint8Array;
  /** The keyframe the node is stored against, or null when it is stored whole. */
  keyframe: Id | null;
}

/** A Map that forgets its older half once the newer one fills: LRU-like at the cost of one set. */
class Generations<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get(k: string): V | undefined {
    const v = this.young.get(k);
    return v !== undefined ? v : this.old.get(k);
  }

  set(k: string, v: V): void {
    this.young.set(k, v);
    if (this.young.size < this.max) return;
    this.old = this.young;
    this.young = new Map();
  }
}

function idText(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.length).toString('latin1');
}

/** The bytes in an ArrayBuffer of their own (not Node's shared 8 KiB pool either). */
function ownCopy(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  out.set(b);
  return out;
}

const KNOWN_RECORDS = 1 << 18;
const CACHED_KEYFRAMES = 8192;
/** Keyframes larger than this are read again rather than cached (nodes are ~1–4 KiB). */
const MAX_CACHED_KEYFRAME = 64 * 1024;

/**
 * Node records (docs/format.md §8, §8.1): a node stored whole, or a delta against a keyframe
 * stored whole, appended to the segment files with an index entry in LevelDB, as big blocks
 * are: LevelDB rewrote every record at each compaction of its random keys (17 KB written per
 * randomly placed pair for 1.6 KB of records), and now moves only the 51–85-byte entries.
 * Readers get canonical bytes either way; what is written is chosen here. Two invariants keep
 * every delta readable:
 * - a keyframe is a whole record, so a chain is one edit long;
 * - a delta never overwrites an existing record (a node written again is left as it is), so a
 *   keyframe is never turned into a delta under the deltas that point at it.
 * The garbage collector keeps the keyframes of live deltas (`read` reports them).
 */
export class NodeRecords {
  private readonly db: ClassicLevel<Buffer, Buffer>;
  private readonly segments: SegmentFiles;
  private readonly logger: Logger;
  /** LevelDB may hold records of layouts up to 3 (`b`): a store created since never looks there. */
  readonly legacy: boolean;
  /**
   * For nodes this run wrote or read: their keyframe's id as latin1 text, or null when stored
   * whole. Text, not bytes: a 34-byte copy would lie in Node's shared 8 KiB pool beside the delta
   * records written with it, and 512k remembered ids would keep those pool chunks alive long
   * after the records had gone.
   */
  private readonly known = new Generations<string | null>(KNOWN_RECORDS);
  private readonly keyframes = new Generations<Uint8Array>(CACHED_KEYFRAMES);
  /** Delta records of nodes this run wrote or read, the likely bases of the next writes. */
  private readonly deltas = new Generations<Uint8Array>(CACHED_KEYFRAMES);
  /** How often recent writes replaced each delta-stored base (see `recordOf`). */
  private readonly baseUses = new Generations<number>(CACHED_KEYFRAMES);
  /** What the chain of each delta record made by `encode` has cost (StoredRecord.spent), until its write lands. */
  private readonly spent = new WeakMap<Uint8Array, number>();
  readonly stats = { deltas: 0 };

  constructor(db: ClassicLevel<Buffer, Buffer>, segments: SegmentFiles, legacy: boolean, logger: Logger) {
    this.db = db;
    this.segments = segments;
    this.legacy = legacy;
    this.logger = logger;
  }

  /**
   * A node's index entry, looked up synchronously: a read's entries exist and are small and hot,
   * and a promise per lookup cost more than the lookup. (A write's ids are mostly absent, which
   * costs a search of every level: `storedAs` sends them to the pool at once.)
   */
  entry(id: Id): Buffer | undefined {
    return this.db.getSync(nodeAtKey(id));
  }

  async has(id: Id): Promise<boolean> {
    if (this.entry(id) !== undefined) return true;
    return this.legacy && (await this.db.get(nodeKey(id))) !== undefined;
  }

  async get(id: Id): Promise<Uint8Array | undefined> {
    return (await this.read([id]))[0]?.bytes;
  }

  /** Many nodes: their records, then the keyframes not cached. */
  async read(ids: Id[], remember = true): Promise<Array<StoredNode | undefined>> {
    const recs = await this.records(ids);
    const keyframes = await this.keyframesFor(recs.map((r) => (r !== undefined && isDelta(r) ? keyframeOf(r) : undefined)));
    return recs.map((r, i) => {
      if (r === undefined) return undefined;
      if (!isDelta(r)) {
        if (remember) this.known.set(idKey(ids[i]), null);
        return { bytes: r, keyframe: null };
      }
      const kf = keyframeOf(r);
      const bytes = this.rebuild(ids[i], r, keyframes.get(idKey(kf)), remember);
      return bytes === undefined ? undefined : { bytes, keyframe: Buffer.from(kf) };
    });
  }

  /** The records of `ids`, undefined where none is stored: from the segments, else from LevelDB for layouts up to 3. */
  private async records(ids: Id[]): Promise<Array<Uint8Array | undefined>> {
    const out = new Array<Uint8Array | undefined>(ids.length).fill(undefined);
    const located: Array<{ i: number; entry: Buffer }> = [];
    const old: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const entry = this.entry(ids[i]);
      if (entry !== undefined) located.push({ i, entry });
      else if (this.legacy) old.push(i);
    }
    const put = (i: number, r: Uint8Array | undefined): void => {
      out[i] = r;
    };
    const reads: Array<Promise<unknown>> = [];
    if (located.length > 0) {
      reads.push(this.segments.readMany(located.map((l) => decodeLocation(l.entry.subarray(0, LOCATION_BYTES)))).then(
        (got) => located.forEach((l, k) => put(l.i, got[k])),
        // A segment the collector dropped meanwhile: each record looked up again.
        () => Promise.all(located.map((l) => this.readAt(ids[l.i], l.entry).then((r) => put(l.i, r)))),
      ));
    }
    if (old.length > 0) reads.push(this.db.getMany(old.map((i) => nodeKey(ids[i]))).then((got) => old.forEach((i, k) => put(i, got[k]))));
    await Promise.all(reads);
    return out;
  }

  /** A record from its segment, looked up again once when the collector moved it meanwhile. */
  private async readAt(id: Id, entry: Buffer): Promise<Uint8Array | undefined> {
    try {
      return await this.segments.read(decodeLocation(entry.subarray(0, LOCATION_BYTES)));
    } catch (e) {
      const now = this.entry(id);
      if (now === undefined) return undefined;
      if (now.equals(entry)) throw e;
      return this.segments.read(decodeLocation(now.subarray(0, LOCATION_BYTES)));
    }
  }

  /**
   * How each node is stored, from the index entries (and the records of layouts up to 3). One
   * `getMany` on libuv's pool, not a `getSync` per id: the nodes of a write are new, and a miss
   * searches every LevelDB level, ~6 µs each of the main thread for a one-key put's ~5 ids.
   */
  private async storedAs(ids: Id[]): Promise<StoredAs[]> {
    const out = new Array<StoredAs>(ids.length).fill(undefined);
    const old: number[] = [];
    const entries = await this.db.getMany(ids.map(nodeAtKey));
    for (let i = 0; i < ids.length; i++) {
      const e = entries[i];
      if (e !== undefined) out[i] = e.length > LOCATION_BYTES ? e.subarray(LOCATION_BYTES) : null;
      else if (this.legacy) old.push(i);
    }
    if (old.length > 0) {
      const got = await this.db.getMany(old.map((i) => nodeKey(ids[i])));
      old.forEach((i, k) => {
        const r = got[k];
        if (r !== undefined) out[i] = isDelta(r) ? Buffer.from(keyframeOf(r)) : null;
      });
    }
    return out;
  }

  /**
   * The records to write for new nodes, in order: a delta where it takes at most half the
   * bytes, the node itself otherwise, and undefined for a node already stored (nothing to
   * write). `deltas` false stores every node whole (while the collector runs). `promoted` are
   * bases to store whole again: a base that is itself a delta, far from its keyframe, would
   * otherwise make every write on it store its successor whole. `inFlight`: nodes appended by
   * writes not yet in LevelDB, which are stored already too.
   */
  async encode(nodes: NewNode[], deltas: boolean, inFlight: ReadonlySet<string>): Promise<{ records: Array<Uint8Array | undefined>; promoted: NewNode[] }> {
    // A node equal to the one it replaces is stored already (a write that changed nothing).
    const records = nodes.map((n) => (n.base !== undefined && idEquals(n.base.id, n.id) ? undefined : n.bytes));
    const candidates: Candidate[] = [];
    if (deltas) {
      nodes.forEach((n, at) => {
        if (n.base === undefined || records[at] === undefined) return;
        const stored = n.base.stored;
        candidates.push({ at, node: n, base: n.base, keyframe: stored !== undefined ? stored.keyframe : this.knownKeyframe(n.base.id), via: stored?.delta });
      });
    }
    if (candidates.length === 0) return { records, promoted: [] };
    const unknown = candidates.filter((c) => c.keyframe === undefined);
    // Is each node already there (then it is left alone; new nodes almost never are), and how
    // are the bases not seen yet stored. Undefined stays: the store lacks the base (the empty
    // tree, a block only a peer holds).
    const found = await this.storedAs([...candidates.map((c) => c.node.id), ...unknown.map((c) => c.base.id)]);
    unknown.forEach((c, i) => {
      c.keyframe = found[candidates.length + i];
    });
    for (const c of candidates) {
      if (c.keyframe === null || c.keyframe === undefined || c.via !== undefined) continue;
      const rb = this.deltas.get(idKey(c.base.id));
      if (rb !== undefined && idEquals(keyframeOf(rb), c.keyframe)) c.via = rb;
    }
    // Keyframe bytes only for the deltas made by searching the keyframe.
    const keyframeBytes = await this.keyframesFor(candidates.map((c) => (c.via === undefined ? c.keyframe : undefined)));
    const promoted = new Map<string, NewNode>();
    candidates.forEach((c, i) => {
      records[c.at] = found[i] !== undefined || inFlight.has(idKey(c.node.id)) ? undefined : this.recordOf(c, keyframeBytes, promoted);
    });
    return { records, promoted: [...promoted.values()] };
  }

  /** A delta when one takes at most half the node's bytes (against the base, or the base's keyframe), else the node. */
  private recordOf(c: Candidate, keyframeBytes: Map<string, Uint8Array>, promoted: Map<string, NewNode>): Uint8Array {
    const { node, base, keyframe } = c;
    if (keyframe === undefined) return node.bytes;
    if (keyframe === null) return encodeDelta(base.id, base.bytes, node.bytes, node.copied) ?? node.bytes;
    const delta = this.againstKeyframe(c, keyframe, keyframeBytes);
    // A base written on again and again (every write on one tree) pays for storing it whole
    // at once; a base used once (random ingest) does not, until the chain of edits since its
    // keyframe has cost as many bytes as the base (each delta carries every edit since, and
    // random inserts make them grow). Renting until the rent reaches the price costs at most
    // twice the best choice made knowing the edits to come: records of the 1M random ingest
    // went from 1,724 to 1,251 B a pair (docs/benchmarks.md).
    const uses = this.countUse(base);
    if (delta !== undefined && uses < 2 && !this.chainPaid(base, delta)) return delta;
    const own = encodeDelta(base.id, base.bytes, node.bytes, node.copied);
    if (own === undefined || (delta !== undefined && own.length * 2 > delta.length)) return delta ?? node.bytes;
    // A base that keeps its record learns it is stored whole now.
    promoted.set(idKey(base.id), { id: base.id, bytes: base.bytes, holder: base.stored !== undefined ? base : undefined });
    return own;
  }

  /**
   * Whether the chain of edits `delta` extends has cost more than the base's bytes, when the base's
   * writer keeps its record (else the chain's cost is not known, and it goes on); remembers what
   * the chain has cost with `delta`, for its node.
   */
  private chainPaid(base: Candidate['base'], delta: Uint8Array): boolean {
    if (base.stored === undefined) return false;
    const spent = base.stored.spent + delta.length;
    this.spent.set(delta, spent);
    return spent > base.bytes.length;
  }

  /** One more write replaced `base`: how many have, counted with its record when its writer keeps it. */
  private countUse(base: Candidate['base']): number {
    if (base.stored !== undefined) return ++base.stored.uses;
    const bk = idKey(base.id);
    const uses = (this.baseUses.get(bk) ?? 0) + 1;
    this.baseUses.set(bk, uses);
    return uses;
  }

  /** The node's delta against its base's keyframe: from the base's record when cached, else by searching the keyframe. */
  private againstKeyframe(c: Candidate, keyframe: Id, keyframeBytes: Map<string, Uint8Array>): Uint8Array | undefined {
    if (idEquals(keyframe, c.node.id)) return undefined;
    if (c.via !== undefined) return encodeDeltaVia(c.via, c.base.bytes, c.node.bytes, c.node.copied);
    const kfBytes = keyframeBytes.get(idKey(keyframe));
    return kfBytes === undefined ? undefined : encodeDelta(keyframe, kfBytes, c.node.bytes);
  }

  /** The records to append for `nodes` (undefined: nothing to write), in order. */
  static toAppend(nodes: NewNode[], records: Array<Uint8Array | undefined>): Array<{ id: Id; bytes: Uint8Array }> {
    const items: Array<{ id: Id; bytes: Uint8Array }> = [];
    records.forEach((r, i) => {
      if (r !== undefined) items.push({ id: nodes[i].id, bytes: r });
    });
    return items;
  }

  /**
   * Puts the index entries of appended records in `batch`; the caller syncs the segments
   * before writing the batch, so no entry ever points at bytes that are not on disk.
   */
  stage(batch: ChainedBatch<ClassicLevel<Buffer, Buffer>, Buffer, Buffer>, items: ReadonlyArray<{ id: Id; bytes: Uint8Array }>, at: Location[]): void {
    items.forEach((it, k) => batch.put(nodeAtKey(it.id), indexEntry(at[k], it.bytes)));
  }

  /** Records what the landed batch wrote, so later writes know their bases without reading. */
  landed(nodes: NewNode[], records: Array<Uint8Array | undefined>): void {
    nodes.forEach((n, i) => {
      const r = records[i];
      if (r === undefined) return;
      if (n.holder !== undefined) {
        // A record of its own: in Node's shared pool, it would keep the chunk it shares with
        // records of nodes long gone alive as long as this node stays cached.
        const delta = isDelta(r) ? ownCopy(r) : undefined;
        n.holder.stored = { keyframe: delta === undefined ? null : keyframeOf(delta), delta, uses: 0, spent: delta === undefined ? 0 : (this.spent.get(r) ?? r.length) };
        if (delta !== undefined) this.stats.deltas++;
        return;
      }
      const k = idKey(n.id);
      if (isDelta(r)) {
        this.known.set(k, idText(keyframeOf(r)));
        this.deltas.set(k, r);
        this.stats.deltas++;
      } else {
        this.known.set(k, null);
        // A copy in memory of its own: a new node's bytes lie in a slab with other nodes'
        // (tree/slab), which a cached keyframe would keep alive long after they are dropped.
        if (n.bytes.length <= MAX_CACHED_KEYFRAME) this.keyframes.set(k, ownCopy(n.bytes));
      }
    });
  }

  /** The bytes of the given keyframes (null and undefined entries need none), cached ones first. */
  private async keyframesFor(keyframes: Array<Id | null | undefined>): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const need: Id[] = [];
    const wanted = new Set<string>();
    for (const kf of keyframes) {
      if (kf === null || kf === undefined) continue;
      const k = idKey(kf);
      const cached = this.keyframes.get(k);
      if (cached !== undefined) out.set(k, cached);
      else if (!wanted.has(k)) {
        wanted.add(k);
        need.push(kf);
      }
    }
    if (need.length === 0) return out;
    const got = await this.records(need);
    need.forEach((kf, i) => {
      const b = got[i];
      if (b === undefined || isDelta(b)) return;
      out.set(idKey(kf), b);
      this.cacheKeyframe(Buffer.from(kf), b);
    });
    return out;
  }

  private knownKeyframe(id: Id): Id | null | undefined {
    const kf = this.known.get(idKey(id));
    return kf === null || kf === undefined ? kf : Buffer.from(kf, 'latin1');
  }

  private cacheKeyframe(id: Id, bytes: Uint8Array): void {
    if (bytes.length <= MAX_CACHED_KEYFRAME) this.keyframes.set(idKey(id), bytes);
  }

  private rebuild(id: Id, rec: Uint8Array, keyframe: Uint8Array | undefined, remember: boolean): Buffer | undefined {
    const bytes = keyframe === undefined ? undefined : applyDelta(rec, keyframe);
    if (bytes === undefined) {
      this.logger.error({ block: idToText(id), keyframe: idToText(keyframeOf(rec)) }, 'a stored delta cannot be rebuilt: its keyframe is missing or does not fit');
      return undefined;
    }
    if (remember) {
      const k = idKey(id);
      this.known.set(k, idText(keyframeOf(rec)));
      this.deltas.set(k, rec);
    }
    return bytes;
  }
}
