import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { BufferPool, type Lease } from './buffer-pool.ts';
import { type LogOp, decodePosition, encodeCommit, encodePosition, endOf, recordsCrc, replay } from './commit-log.ts';
import { type Id, idEquals, idKey, idOf } from './id.ts';
import { BLOCK, NODE_AT, type NewNode, NodeRecords, type StoredNode, nodeAtKey, nodeKey } from './records.ts';
import { type Appended, LOCATION_BYTES, type Location, RECORD_HEAD, SegmentFiles, type SegmentOptions, decodeLocation, diskUsage, encodeLocation, lengthOf } from './segments.ts';

/**
 * Blocks, pins and variables (docs/format.md §8): the bytes of every block (node records, big
 * blocks) in append-only segment files, their locations, pins and variables in one LevelDB,
 * each under a one-byte prefix.
 * Every write goes through `commit`: its operations land atomically in one batch, and the
 * promise resolves only once that batch is synced to disk (segments first, then LevelDB).
 * Writers that arrive while a sync is running share the next one (group commit), so 50
 * concurrent writers cost a handful of syncs.
 */
const LOCATION = 0x6c; // 'l'
const PIN = 0x70; // 'p'
const VAR = 0x76; // 'v'
const META = 0x6d; // 'm'

/** Stored layout version; a store written by a newer layout is refused, not misread. */
const STORE_VERSION = 6;
/** The first layout with commit records (§8.2), whose checkpoint recovery replays from. */
const COMMIT_RECORDS = 5;
const VERSION_KEY = Buffer.from([META, 0x76]);
/** Where the commit records LevelDB may not hold yet begin (docs/format.md §8.2). */
const CHECKPOINT = Buffer.from([META, 0x63]);
/** LevelDB's log is synced at most this often: a crash's replay covers about this much. */
const INDEX_SYNC_MS = 1000;
export const FOREVER = Number.MAX_SAFE_INTEGER;
/**
 * Free read buffers kept: the recent-blobs cache (8 MiB) plus a cat's windows in flight. At 16 MiB
 * random 1 MiB range reads still allocated and their p99 was 19 ms; at 24 MiB 6.4-10.1 ms (12 MiB:
 * slower cat, more RSS). docs/benchmarks.md.
 */
const READ_POOL_BYTES = 24 * 1024 * 1024;

export type BlockKind = 'node' | 'blob';

export interface WriteSet {
  /** Tree nodes: small records in the segments, each maybe a delta against the node it replaces. */
  blocks?: NewNode[];
  /** Big blocks: their bytes (appended at commit) or where `appendBlob` already put them. */
  blobs?: Array<{ id: Id; bytes: Uint8Array | readonly Uint8Array[] } | { id: Id; at: Location }>;
  /** Pin `root` until `until` (epoch ms, FOREVER for no expiry); an existing later pin stays. */
  pins?: Array<{ root: Id; until: number }>;
  vars?: Array<{ name: Uint8Array; value: Uint8Array | null }>;
  /** Existing blocks the write builds on without rewriting them (base roots, deduplicated blobs). */
  uses?: Array<{ id: Id; kind: BlockKind }>;
  /** New roots handed out without a pin: the collector spares them for its grace period. */
  fresh?: Id[];
  /**
   * `sweepsDone` when what the write uses was last seen in the store: if a sweep has started
   * since (`since < sweeps`), the collector checks it is still there before admitting the write.
   */
  since?: number;
}

/**
 * The garbage collector's view of commits: it sees every write set before it lands, in the
 * order they land, and may refuse one (the write built on blocks that are being swept).
 */
export interface CommitGuard {
  admit(set: WriteSet): void | Promise<void>;
  /** A collection is running: new nodes are stored whole, so none depends on a block it may sweep. */
  readonly collecting: boolean;
}

interface Pending {
  set: WriteSet | null;
  job: (() => Promise<unknown>) | null;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Batch = Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }>;

export class BlockStore {
  private readonly db: ClassicLevel<Buffer, Buffer>;
  private readonly logger: Logger;
  private readonly nodes: NodeRecords;
  readonly segments: SegmentFiles;
  /** Buffers of blocks read by `leaseBlob`: enough for a `cat`'s windows in flight and its recent chunks. */
  readonly readBuffers = new BufferPool(READ_POOL_BYTES);
  readonly dir: string;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  /** Nodes of groups appended and not yet in LevelDB (`landGroup`). */
  private readonly inFlight = new Set<string>();
  private closed = false;
  /** Set once a write failed after its commit record was appended: no write is taken after it. */
  private broken: CrissError | null = null;
  private indexSyncedAt = performance.now();
  /** Set by the garbage collector while it runs. */
  guard: CommitGuard | null = null;
  /** Sweeps of the garbage collector started and finished so far (see WriteSet.since). */
  sweeps = 0;
  sweepsDone = 0;
  /** `bytesWritten` counts nodes' bytes, `recordBytesWritten` what storing them took (deltas: §8.1). */
  readonly stats = { commits: 0, syncs: 0, blocksWritten: 0, bytesWritten: 0, recordBytesWritten: 0, blobsWritten: 0, blobBytesWritten: 0 };

  private constructor(db: ClassicLevel<Buffer, Buffer>, segments: SegmentFiles, legacy: boolean, dir: string, logger: Logger) {
    this.db = db;
    this.segments = segments;
    this.dir = dir;
    this.logger = logger;
    this.nodes = new NodeRecords(db, segments, legacy, logger);
  }

  static async open(dir: string, logger: Logger, opts: SegmentOptions = {}): Promise<BlockStore> {
    // A 64 MiB memtable and 64 MiB table files (LevelDB's defaults: 4 and 2) mean far fewer
    // compactions competing with the syncs every write waits for (docs/benchmarks.md).
    const db = new ClassicLevel<Buffer, Buffer>(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      writeBufferSize: 64 * 1024 * 1024,
      maxFileSize: 64 * 1024 * 1024,
    });
    try {
      await db.open();
    } catch (e) {
      throw new CrissError('ERR', `cannot open the store at ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const version = await db.get(VERSION_KEY);
    // Each layout only adds to the one before (2: segments and `l`; 3: delta records; 4: node
    // records in the segments; 5: commit records; 6: zero padding after a write in a segment):
    // an old store is upgraded in place, and its `b` records stay readable.
    if (version !== undefined && (version[0] < 1 || version[0] > STORE_VERSION)) {
      await db.close();
      throw new CrissError('ERR', `the store at ${dir} has layout version ${version[0]}; this build reads ${STORE_VERSION}`);
    }
    const segments = await SegmentFiles.open(join(dir, 'segments'), opts);
    if (!segments.directIo && opts.direct !== false) logger.info({ dir }, 'the file system refuses O_DIRECT: segments go through the page cache');
    try {
      await recover(db, segments, version !== undefined && version[0] >= COMMIT_RECORDS ? await db.get(CHECKPOINT) : undefined, logger);
    } catch (e) {
      await segments.close();
      await db.close();
      throw e;
    }
    let legacy = false;
    for await (const _ of db.keys({ gt: Buffer.from([BLOCK]), lt: Buffer.from([BLOCK + 1]), limit: 1 })) legacy = true;
    return new BlockStore(db, segments, legacy, dir, logger);
  }

  /** A node's canonical bytes, whether it is stored whole or as a delta. */
  getBlock(id: Id): Promise<Uint8Array | undefined> {
    return this.nodes.get(id);
  }

  async getBlocks(ids: Id[]): Promise<Array<Uint8Array | undefined>> {
    return (await this.nodes.read(ids)).map((n) => n?.bytes);
  }

  /** Nodes with the keyframe each is stored against (the collector keeps those too). */
  readNodes(ids: Id[]): Promise<Array<StoredNode | undefined>> {
    return this.nodes.read(ids, false);
  }

  hasBlock(id: Id): Promise<boolean> {
    return this.nodes.has(id);
  }

  async hasBlob(id: Id): Promise<boolean> {
    return this.locationOf(id) !== undefined;
  }

  /**
   * Where a big block lies, looked up synchronously: the location index is small and hot (one
   * 50-byte entry per blob), so a lookup takes microseconds, where the promise of `get` cost about
   * 60 µs of the event loop per chunk of a cat (a GiB has ~3,500).
   */
  private locationOf(id: Id): Buffer | undefined {
    return this.db.getSync(key(LOCATION, id));
  }

  /** A big block's bytes, or undefined when the store has none. */
  getBlob(id: Id): Promise<Uint8Array | undefined> {
    return this.readLocated(id, (at) => this.segments.read(at));
  }

  /**
   * A big block read into a reusable buffer: the caller releases the lease once nothing reads
   * the bytes any more (or escapes it), and they may then hold another block.
   */
  leaseBlob(id: Id): Promise<Lease | undefined> {
    return this.readLocated(id, (at) => this.segments.readLeased(at, this.readBuffers));
  }

  private async readLocated<T>(id: Id, read: (at: Location) => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      const at = this.locationOf(id);
      if (at === undefined) return undefined;
      try {
        return await read(decodeLocation(at));
      } catch (e) {
        // The collector moved it between the lookup and the read: look it up again.
        if (attempt > 0) throw e;
      }
    }
  }

  /** Appends a big block before its commit (uploads); the segment is held until `release`. */
  appendBlob(id: Id, bytes: Uint8Array | readonly Uint8Array[]): Promise<Location> {
    if (this.closed) return Promise.reject(new CrissError('CLOSED', 'the store is closing'));
    return this.segments.append(id, bytes, true);
  }

  release(at: Location): void {
    this.segments.release(at.segment);
  }

  /** Pin expiry of a root in epoch ms (FOREVER), or undefined when it is not pinned. */
  async pinOf(root: Id): Promise<number | undefined> {
    const prefix = key(PIN, root);
    // Records of one root sort by expiry: the last one is the pin in force.
    for await (const k of this.db.keys({ gte: prefix, lt: Buffer.concat([prefix, MAX_EXPIRY]), reverse: true, limit: 1 })) {
      return Number(k.readBigUint64BE(prefix.length));
    }
    return undefined;
  }

  /** Every pin record in key order: per root, by ascending expiry (the last is in force). */
  async *pinRecords(): AsyncGenerator<{ root: Id; until: number }> {
    for await (const k of this.db.keys({ gt: Buffer.from([PIN]), lt: Buffer.from([PIN + 1]) })) {
      yield { root: k.subarray(1, k.length - 8), until: Number(k.readBigUint64BE(k.length - 8)) };
    }
  }

  /** Every pinned root with its pin in force, in root order. */
  async *pins(): AsyncGenerator<{ root: Id; until: number }> {
    let last: { root: Id; until: number } | undefined;
    for await (const rec of this.pinRecords()) {
      if (last !== undefined && Buffer.compare(last.root, rec.root) !== 0) yield last;
      last = rec;
    }
    if (last !== undefined) yield last;
  }

  async *vars(): AsyncGenerator<{ name: Uint8Array; value: Uint8Array }> {
    for await (const [k, v] of this.db.iterator({ gt: Buffer.from([VAR]), lt: Buffer.from([VAR + 1]) })) {
      yield { name: k.subarray(1), value: v };
    }
  }

  /**
   * Every stored node with where its record is, in id order (the sweep never reads node bytes);
   * then those of layouts up to 3, kept in LevelDB (no location).
   */
  async *nodeLocations(): AsyncGenerator<{ id: Id; at: Location | undefined }> {
    for await (const [k, v] of this.db.iterator({ gt: Buffer.from([NODE_AT]), lt: Buffer.from([NODE_AT + 1]) })) {
      yield { id: k.subarray(1), at: decodeLocation(v.subarray(0, LOCATION_BYTES)) };
    }
    if (!this.nodes.legacy) return;
    for await (const k of this.db.keys({ gt: Buffer.from([BLOCK]), lt: Buffer.from([BLOCK + 1]) })) yield { id: k.subarray(1), at: undefined };
  }

  /** Every stored blob with its location, in id order. */
  async *blobLocations(): AsyncGenerator<{ id: Id; at: Location }> {
    for await (const [k, v] of this.db.iterator({ gt: Buffer.from([LOCATION]), lt: Buffer.from([LOCATION + 1]) })) {
      yield { id: k.subarray(1), at: decodeLocation(v) };
    }
  }

  /** Every record in the segments that the index points at: blobs, then nodes. */
  async *segmentRecords(): AsyncGenerator<{ id: Id; at: Location; kind: BlockKind }> {
    for await (const b of this.blobLocations()) yield { ...b, kind: 'blob' };
    for await (const n of this.nodeLocations()) if (n.at !== undefined) yield { id: n.id, at: n.at, kind: 'node' };
  }

  /** Applies the write set atomically; resolves once it is durable. */
  commit(set: WriteSet): Promise<void> {
    return this.enqueue(set, null) as Promise<void>;
  }

  /**
   * Runs `job` between two commit groups, with no commit in flight: the collector uses it to
   * change phase and to delete, so that no commit interleaves with its decisions.
   */
  exclusive<T>(job: () => Promise<T>): Promise<T> {
    return this.enqueue(null, job) as Promise<T>;
  }

  private enqueue(set: WriteSet | null, job: (() => Promise<unknown>) | null): Promise<unknown> {
    if (this.closed) return Promise.reject(new CrissError('CLOSED', 'the store is closing'));
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    this.queue.push({ set, job, resolve, reject });
    this.flushing ??= this.flushLoop();
    return promise;
  }

  /**
   * Takes the queue as one group at a time, and the next group as soon as this one's records are
   * appended: its lookups and encoding run while the one before syncs and lands in LevelDB, so
   * the event loop is not left idle between the two (single-key puts: docs/benchmarks.md). Groups
   * still land, and their writers hear back, in queue order.
   */
  private async flushLoop(): Promise<void> {
    let landing: Promise<void> = Promise.resolve();
    // Writes queued while the last group lands are taken too: only an empty queue ends the loop.
    while (this.queue.length > 0 || (await landing, this.queue.length > 0)) {
      const jobAt = this.queue.findIndex((p) => p.job !== null);
      if (jobAt === 0) {
        await landing;
        const p = this.queue.shift() as Pending;
        await (p.job as () => Promise<unknown>)().then(p.resolve, p.reject);
        continue;
      }
      const group = jobAt < 0 ? this.queue : this.queue.slice(0, jobAt);
      this.queue = jobAt < 0 ? [] : this.queue.slice(jobAt);
      const { appended, landed } = this.writeGroup(group, landing);
      landing = landed;
      await appended;
    }
    this.flushing = null;
  }

  /**
   * Writes one group: `appended` once its records are in the segments (or it failed before),
   * `landed` once it is durable and in LevelDB after `before` (the group ahead of it), its
   * writers told. Neither rejects: failures reach the writers.
   */
  private writeGroup(all: Pending[], before: Promise<void>): { appended: Promise<void>; landed: Promise<void> } {
    const appended = Promise.withResolvers<void>();
    const landed = this.landGroup(all, before, appended.resolve).finally(appended.resolve);
    return { appended: appended.promise, landed };
  }

  private async landGroup(all: Pending[], before: Promise<void>, appendedNow: () => void): Promise<void> {
    const group: Pending[] = [];
    for (const p of all) {
      try {
        if (this.broken !== null) throw this.broken;
        if (this.guard !== null) await this.guard.admit(p.set as WriteSet);
        group.push(p);
      } catch (e) {
        p.reject(e);
      }
    }
    if (group.length === 0) return;
    let appended = false;
    const flying: string[] = [];
    try {
      const written = group.flatMap((p) => p.set?.blocks ?? []);
      const encoded = await this.nodes.encode(written, this.guard?.collecting !== true, this.inFlight);
      // Promoted bases go first: a node stored against one is never without it.
      const nodes = [...encoded.promoted, ...written];
      const records = [...encoded.promoted.map((p) => p.bytes), ...encoded.records];
      const stored = NodeRecords.toAppend(nodes, records);
      const { items, ops } = this.logOps(group, stored);
      let logged: LogOp[] = [];
      appended = true;
      const { at, sealed } = await this.segments.appendSealed(items, (locs) => encodeCommit({
        first: stored.length === 0 ? { segment: 0, offset: 0 } : { segment: locs[0].segment, offset: locs[0].offset - RECORD_HEAD },
        count: stored.length,
        crc: recordsCrc(stored),
        ops: (logged = ops(locs)),
      }));
      // Until this group is in LevelDB, the groups behind it learn of its nodes here.
      for (const s of stored) {
        const k = idKey(s.id);
        this.inFlight.add(k);
        flying.push(k);
      }
      appendedNow();
      // A chained batch: each put is one call into LevelDB's batch, where an array of ops costs
      // property reads per op on this thread (about a third more for a group's ~100 nodes).
      const batch = this.db.batch();
      try {
        this.nodes.stage(batch, stored, at);
        for (const op of logged) {
          if (op.type === 'put') batch.put(op.key, op.value);
          else batch.del(op.key);
        }
        batch.put(CHECKPOINT, encodePosition(endOf(sealed)));
        await this.segments.sync();
        // In queue order: the checkpoint only moves forward, and a variable's last value wins.
        await before;
        if (this.broken !== null) throw this.broken;
        // The commit record, synced above, is what makes the write durable; LevelDB's log is
        // synced about once a second, which bounds what a recovery replays.
        const now = performance.now();
        const sync = now - this.indexSyncedAt >= INDEX_SYNC_MS;
        await batch.write({ sync });
        if (sync) this.indexSyncedAt = now;
      } finally {
        // Idempotent: frees the batch when filling or syncing failed before it was written.
        await batch.close();
      }
      this.count(nodes, records, group);
      this.nodes.landed(nodes, records);
      this.stats.syncs++;
      this.stats.commits += group.length;
      for (const p of group) p.resolve(undefined);
    } catch (e) {
      const err = e === this.broken ? e : new CrissError('ERR', `store write failed: ${(e as Error).message}`, { cause: e });
      if (e !== this.broken) this.logger.error({ err: e }, 'store write failed');
      // Its commit record may be on disk, half written or to be replayed after a crash: a
      // later write appended behind it could be lost with it, so none is taken until a restart.
      if (appended && this.broken === null) this.broken = new CrissError('ERR', `the store refuses writes since one could not be made durable (${(e as Error).message}); restart the daemon`);
      for (const p of group) p.reject(err);
    } finally {
      for (const k of flying) this.inFlight.delete(k);
    }
  }

  /**
   * What a group appends besides its node records (blobs given as bytes), and its LevelDB
   * operations other than node entries, in the group's order, given where the appends landed.
   */
  private logOps(group: Pending[], stored: ReadonlyArray<{ id: Id; bytes: Uint8Array }>): { items: Appended[]; ops: (at: Location[]) => LogOp[] } {
    const items: Appended[] = [...stored];
    const appendedAt = new Map<object, number>();
    for (const { set } of group) {
      for (const b of set?.blobs ?? []) {
        if ('at' in b) continue;
        appendedAt.set(b, items.length);
        items.push(b);
      }
    }
    const ops = (at: Location[]): LogOp[] => {
      const out: LogOp[] = [];
      for (const { set } of group) {
        if (set === null) continue;
        for (const b of set.blobs ?? []) out.push({ type: 'put', key: key(LOCATION, b.id), value: encodeLocation('at' in b ? b.at : at[appendedAt.get(b) as number]) });
        for (const v of set.vars ?? []) out.push(v.value === null ? { type: 'del', key: key(VAR, v.name) } : { type: 'put', key: key(VAR, v.name), value: Buffer.from(v.value) });
        // A pin is a record keyed by root and expiry, written blind: the latest expiry wins by
        // key order, so concurrent pins need no read-modify-write and none can shorten another.
        for (const p of set.pins ?? []) out.push({ type: 'put', key: pinKey(p.root, p.until), value: EMPTY });
      }
      return out;
    };
    return { items, ops };
  }

  private count(nodes: NewNode[], records: Array<Uint8Array | undefined>, group: Pending[]): void {
    nodes.forEach((b, i) => {
      const r = records[i];
      if (r === undefined) return;
      this.stats.blocksWritten++;
      this.stats.bytesWritten += b.bytes.length;
      this.stats.recordBytesWritten += r.length;
    });
    for (const { set } of group) {
      for (const b of set?.blobs ?? []) {
        this.stats.blobsWritten++;
        this.stats.blobBytesWritten += 'at' in b ? b.at.length : lengthOf(b.bytes);
      }
    }
  }

  /** Deletes blocks and pin records (collector only, inside `exclusive`). */
  async remove(items: { nodes?: Id[]; blobs?: Id[]; pins?: Array<{ root: Id; until: number }> }, sync = false): Promise<void> {
    const ops: Batch = [];
    for (const id of items.nodes ?? []) {
      ops.push({ type: 'del', key: nodeAtKey(id) });
      if (this.nodes.legacy) ops.push({ type: 'del', key: nodeKey(id) });
    }
    for (const id of items.blobs ?? []) ops.push({ type: 'del', key: key(LOCATION, id) });
    for (const p of items.pins ?? []) ops.push({ type: 'del', key: pinKey(p.root, p.until) });
    if (ops.length > 0) await this.db.batch(ops, { sync });
  }

  /** Points records at new locations (segment compaction, inside `exclusive`); durable on return. */
  async relocate(moves: Array<{ id: Id; at: Location; kind: BlockKind }>): Promise<void> {
    await this.segments.sync();
    const ops: Batch = [];
    for (const m of moves) {
      if (m.kind === 'blob') {
        ops.push({ type: 'put', key: key(LOCATION, m.id), value: encodeLocation(m.at) });
        continue;
      }
      // A node's entry keeps what follows its location (the keyframe of a delta).
      const entry = this.nodes.entry(m.id);
      if (entry !== undefined) ops.push({ type: 'put', key: nodeAtKey(m.id), value: encodeLocation(m.at, entry) });
    }
    await this.db.batch(ops, { sync: true });
  }

  /**
   * Unlinks segments the index no longer points into (collector only). LevelDB is synced first:
   * a commit record in them may be all that holds a write LevelDB has not synced yet. (Every
   * write with records in them landed before they were sealed; the checkpoint stays where it is,
   * since a write in flight now may not be in LevelDB yet.)
   */
  async dropSegments(numbers: Iterable<number>): Promise<void> {
    await this.db.put(VERSION_KEY, Buffer.from([STORE_VERSION]), { sync: true });
    for (const n of numbers) await this.segments.drop(n);
  }

  /** Where a block's record is now in the segments, or undefined. */
  locate(id: Id, kind: BlockKind): Location | undefined {
    const at = kind === 'blob' ? this.locationOf(id) : this.nodes.entry(id);
    return at === undefined ? undefined : decodeLocation(at.subarray(0, LOCATION_BYTES));
  }

  /** Hands deleted ranges back to the filesystem: LevelDB only drops tombstoned data when it compacts. */
  async compactIndex(): Promise<void> {
    if (this.nodes.legacy) await this.db.compactRange(Buffer.from([BLOCK]), Buffer.from([BLOCK + 1]));
    await this.db.compactRange(Buffer.from([NODE_AT]), Buffer.from([NODE_AT + 1]));
    await this.db.compactRange(Buffer.from([LOCATION]), Buffer.from([LOCATION + 1]));
    await this.db.compactRange(Buffer.from([PIN]), Buffer.from([PIN + 1]));
  }

  /** Bytes of the data directory: LevelDB's files and the segments. */
  diskBytes(): Promise<number> {
    return diskUsage(this.dir);
  }

  info(): Array<[string, string | number]> {
    return [
      ['store_commits', this.stats.commits],
      ['store_syncs', this.stats.syncs],
      ['store_blocks_written', this.stats.blocksWritten],
      ['store_bytes_written', this.stats.bytesWritten],
      ['store_node_record_bytes', this.stats.recordBytesWritten],
      ['store_deltas_written', this.nodes.stats.deltas],
      ['store_blobs_written', this.stats.blobsWritten],
      ['store_blob_bytes_written', this.stats.blobBytesWritten],
      ['store_segments', this.segments.count],
      ['store_segment_bytes', this.segments.bytesOnDisk],
      // 1 while segments are written and read around the page cache (--direct-io).
      ['store_direct_io', this.segments.directIo ? 1 : 0],
      ['store_read_buffers_reused', this.readBuffers.stats.reused],
      ['store_read_buffers_allocated', this.readBuffers.stats.allocated],
      ['store_read_buffer_bytes_free', this.readBuffers.pooledBytes],
      ['store_queue', this.queue.length],
      // 0 once a write could not be made durable: writes are refused until a restart.
      ['store_writable', this.broken === null ? 1 : 0],
    ];
  }

  /** Waits for queued writes to land, then closes the segments and LevelDB. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing !== null) await this.flushing;
    await this.segments.close();
    // Every commit so far is in LevelDB for good: the next open replays nothing.
    await this.db.put(CHECKPOINT, encodePosition(this.segments.nextPosition), { sync: true });
    await this.db.close();
    this.logger.debug('store closed');
  }
}

/**
 * Rebuilds what the commit records past LevelDB's checkpoint wrote (LevelDB's log is synced
 * about once a second, the segments before every reply), then moves the checkpoint to this
 * run's first segment. `checkpoint` undefined: a new store, or one of a layout before commit
 * records, whose every write LevelDB synced.
 */
async function recover(db: ClassicLevel<Buffer, Buffer>, segments: SegmentFiles, checkpoint: Buffer | undefined, logger: Logger): Promise<void> {
  const ops: Batch = [];
  if (checkpoint !== undefined) {
    const replayed = await replay(segments, decodePosition(checkpoint), async (op) => {
      if (op.type !== 'put' || op.key[0] !== LOCATION) return true;
      // A blob appended before its commit (an upload's chunk) is checked like any block read.
      const bytes = await segments.read(decodeLocation(op.value)).catch(() => undefined);
      return bytes !== undefined && idEquals(idOf(bytes), op.key.subarray(1));
    });
    ops.push(...replayed.ops);
    if (replayed.commits > 0) logger.info({ commits: replayed.commits }, 'replayed commits LevelDB had not synced');
  }
  ops.push({ type: 'put', key: VERSION_KEY, value: Buffer.from([STORE_VERSION]) });
  ops.push({ type: 'put', key: CHECKPOINT, value: encodePosition(segments.nextPosition) });
  await db.batch(ops, { sync: true });
}

const EMPTY = Buffer.alloc(0);
const MAX_EXPIRY = Buffer.alloc(8, 0xff);

function pinKey(root: Id, until: number): Buffer {
  const k = Buffer.allocUnsafe(1 + root.length + 8);
  k[0] = PIN;
  k.set(root, 1);
  k.writeBigUint64BE(BigInt(until), 1 + root.length);
  return k;
}

function key(prefix: number, id: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(1 + id.length);
  k[0] = prefix;
  k.set(id, 1);
  return k;
}
