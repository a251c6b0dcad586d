import { type FileHandle, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CrissError } from '../errors.ts';
import type { BufferPool, Lease } from './buffer-pool.ts';
import { ID_BYTES, type Id } from './id.ts';

/**
 * Blocks (big ones, and node records) live in append-only segment files, not in LevelDB
 * (key–value separation, as in WiscKey and Badger): LevelDB would write every byte to its log,
 * then again at each compaction, while a segment writes it once. LevelDB keeps only each block's
 * location (docs/format.md §8).
 *
 * A record is `u32 length | 34-byte id | bytes`, so a segment can be read on its own; the index
 * is what makes a record live. Each run of the daemon appends to fresh segments and never to a
 * file a crash may have left with a torn tail. Segments that are mostly dead are rewritten by
 * the garbage collector and unlinked.
 */
export const SEGMENT_BYTES = 256 * 1024 * 1024;
const RECORD_HEAD = 4 + ID_BYTES;
/** Synced in the background past this many unsynced bytes, so the commit's own sync stays short. */
const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;
const NAME = /^(\d{8})\.seg$/;
/** `readMany` reads two blocks with one pread when at most this many bytes lie between them… */
const SPAN_GAP = 16 * 1024;
/** …and the pread stays within this many bytes. */
const SPAN_BYTES = 512 * 1024;

/** Where a block's bytes are: segment number, offset of the bytes, their length. */
export interface Location {
  segment: number;
  offset: number;
  length: number;
}

export const LOCATION_BYTES = 16;

/** Writes the location into the first 16 bytes of `b`. */
export function encodeLocation(loc: Location, b: Buffer = Buffer.allocUnsafe(LOCATION_BYTES)): Buffer {
  b.writeUInt32BE(loc.segment, 0);
  b.writeUIntBE(0, 4, 2);
  b.writeUIntBE(loc.offset, 6, 6);
  b.writeUInt32BE(loc.length, 12);
  return b;
}

export function decodeLocation(b: Uint8Array): Location {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length !== LOCATION_BYTES) throw new CrissError('ERR', 'corrupt block location in the index');
  return { segment: buf.readUInt32BE(0), offset: buf.readUIntBE(6, 6), length: buf.readUInt32BE(12) };
}

interface Segment {
  readonly number: number;
  readonly fh: FileHandle;
  size: number;
  /** Bytes appended since the last fdatasync. */
  unsynced: number;
  syncing: Promise<void> | null;
  /** Appends not yet committed to the index (uploads in progress): compaction must wait. */
  holds: number;
}

export class SegmentFiles {
  private readonly dir: string;
  private readonly segments = new Map<number, Segment>();
  private active: Segment | null = null;
  private next: number;
  /** Appends are serialized: each gets its offset before the next starts. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, next: number) {
    this.dir = dir;
    this.next = next;
  }

  static async open(dir: string): Promise<SegmentFiles> {
    await mkdir(dir, { recursive: true });
    const numbers: number[] = [];
    for (const name of await readdir(dir)) {
      const m = NAME.exec(name);
      if (m !== null) numbers.push(Number(m[1]));
    }
    const files = new SegmentFiles(dir, numbers.length === 0 ? 1 : Math.max(...numbers) + 1);
    for (const n of numbers) {
      const fh = await open(files.path(n), 'r');
      files.segments.set(n, { number: n, fh, size: (await fh.stat()).size, unsynced: 0, syncing: null, holds: 0 });
    }
    return files;
  }

  private path(n: number): string {
    return join(this.dir, `${String(n).padStart(8, '0')}.seg`);
  }

  /**
   * Appends a block; resolves with its location once written (not yet synced: `sync` before
   * the index points at it). With `hold`, the segment stays out of compaction until `release`.
   */
  append(id: Id, bytes: Uint8Array | readonly Uint8Array[], hold = false): Promise<Location> {
    return this.appendMany([{ id, bytes }], hold).then((at) => at[0]);
  }

  /**
   * Appends blocks (a commit's node records, say) in as few writes as segments they span;
   * resolves with their locations, in order, once written (not yet synced). A block given in
   * pieces (from the network) is written as they lie, never gathered into one buffer.
   */
  appendMany(items: ReadonlyArray<{ id: Id; bytes: Uint8Array | readonly Uint8Array[] }>, hold = false): Promise<Location[]> {
    const run = this.tail.then(() => this.appendNow(items, hold));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async appendNow(items: ReadonlyArray<{ id: Id; bytes: Uint8Array | readonly Uint8Array[] }>, hold: boolean): Promise<Location[]> {
    const blocks = items.map(({ id, bytes }) => {
      const pieces = bytes instanceof Uint8Array ? [bytes] : bytes;
      let length = 0;
      for (const p of pieces) length += p.length;
      return { id, pieces, length };
    });
    const out: Location[] = [];
    const heads = Buffer.allocUnsafe(RECORD_HEAD * blocks.length);
    let i = 0;
    while (i < blocks.length) {
      let seg = this.active;
      if (seg === null || seg.size + RECORD_HEAD + blocks[i].length > SEGMENT_BYTES) seg = await this.roll();
      const at = seg.size;
      const write: Uint8Array[] = [];
      let end = at;
      // At least one record per segment, whatever its size: a fresh segment takes it.
      for (; i < blocks.length && (write.length === 0 || end + RECORD_HEAD + blocks[i].length <= SEGMENT_BYTES); i++) {
        const { id, pieces, length } = blocks[i];
        const head = heads.subarray(i * RECORD_HEAD, (i + 1) * RECORD_HEAD);
        head.writeUInt32BE(length, 0);
        head.set(id, 4);
        write.push(head, ...pieces);
        out.push({ segment: seg.number, offset: end + RECORD_HEAD, length });
        end += RECORD_HEAD + length;
        if (hold) seg.holds++;
      }
      seg.size = end;
      // libuv writes the whole list (in runs of IOV_MAX buffers, resuming after short writes) or fails.
      const { bytesWritten } = await seg.fh.writev(write, at);
      if (bytesWritten !== end - at) throw new CrissError('ERR', `short write to segment ${seg.number}`);
      seg.unsynced += end - at;
      if (seg.unsynced >= BACKGROUND_SYNC_BYTES && seg.syncing === null) void this.syncSegment(seg).catch(() => undefined);
    }
    return out;
  }

  private async roll(): Promise<Segment> {
    const n = this.next++;
    const fh = await open(this.path(n), 'wx+');
    const seg: Segment = { number: n, fh, size: 0, unsynced: 0, syncing: null, holds: 0 };
    this.segments.set(n, seg);
    this.active = seg;
    return seg;
  }

  /** Ends a hold taken by `append(…, true)`. */
  release(segment: number): void {
    const seg = this.segments.get(segment);
    if (seg !== undefined && seg.holds > 0) seg.holds--;
  }

  /** Makes every append so far durable. */
  async sync(): Promise<void> {
    await this.tail;
    await Promise.all([...this.segments.values()].filter((s) => s.unsynced > 0 || s.syncing !== null).map((s) => this.syncSegment(s)));
  }

  private async syncSegment(seg: Segment): Promise<void> {
    while (seg.syncing !== null) await seg.syncing;
    if (seg.unsynced === 0) return;
    const pending = seg.unsynced;
    seg.syncing = seg.fh.datasync().then(() => {
      seg.unsynced -= pending;
    }).finally(() => {
      seg.syncing = null;
    });
    await seg.syncing;
  }

  async read(loc: Location): Promise<Uint8Array> {
    // Its own memory, not a slice of Node's shared 8 KiB pool: a cached 100-byte delta record
    // would keep a whole slab alive.
    const out = Buffer.allocUnsafeSlow(loc.length);
    await this.readInto(loc, out);
    return out;
  }

  /**
   * Many small blocks, in the order given. Neighbours in one segment (a commit's nodes lie side
   * by side) are read with one pread, then copied apart, so that no block keeps the span alive:
   * a cold walk otherwise paid a round trip through libuv's pool per node.
   */
  async readMany(locs: readonly Location[]): Promise<Uint8Array[]> {
    const order = locs.map((_, i) => i).sort((a, b) => locs[a].segment - locs[b].segment || locs[a].offset - locs[b].offset);
    const out = new Array<Uint8Array>(locs.length);
    const reads: Array<Promise<void>> = [];
    for (let k = 0; k < order.length;) {
      const first = locs[order[k]];
      let end = first.offset + first.length;
      let j = k + 1;
      for (; j < order.length; j++) {
        const next = locs[order[j]];
        if (next.segment !== first.segment || next.offset - end > SPAN_GAP || next.offset + next.length - first.offset > SPAN_BYTES) break;
        end = Math.max(end, next.offset + next.length);
      }
      const members = order.slice(k, j);
      if (members.length === 1) {
        reads.push(this.read(first).then((b) => {
          out[members[0]] = b;
        }));
      } else {
        reads.push(this.read({ segment: first.segment, offset: first.offset, length: end - first.offset }).then((span) => {
          for (const m of members) {
            const at = locs[m];
            const own = Buffer.allocUnsafeSlow(at.length);
            own.set(span.subarray(at.offset - first.offset, at.offset - first.offset + at.length));
            out[m] = own;
          }
        }));
      }
      k = j;
    }
    await Promise.all(reads);
    return out;
  }

  /** A block read into a buffer of `pool`, leased to the caller. */
  async readLeased(loc: Location, pool: BufferPool): Promise<Lease> {
    const lease = pool.lease(loc.length);
    try {
      await this.readInto(loc, lease.bytes);
    } catch (e) {
      lease.release();
      throw e;
    }
    return lease;
  }

  private async readInto(loc: Location, out: Buffer): Promise<void> {
    const seg = this.segments.get(loc.segment);
    if (seg === undefined) throw new CrissError('NOTFOUND', `segment ${loc.segment} is gone`);
    const { bytesRead } = await seg.fh.read(out, 0, loc.length, loc.offset);
    if (bytesRead !== loc.length) throw new CrissError('ERR', `segment ${loc.segment} is shorter than its index says`);
  }

  /** Segments the collector may rewrite or drop: none an upload in progress appends to. */
  compactable(): Array<{ segment: number; size: number }> {
    return [...this.segments.values()].filter((s) => s.holds === 0 && s.size > 0).map((s) => ({ segment: s.number, size: s.size }));
  }

  /** Ends appends to `segment` if it is the active one: the next append starts a new segment. */
  seal(segment: number): void {
    if (this.active?.number === segment) this.active = null;
  }

  /** Bytes of every segment file. */
  get bytesOnDisk(): number {
    let n = 0;
    for (const s of this.segments.values()) n += s.size;
    return n;
  }

  get count(): number {
    return this.segments.size;
  }

  /** Removes a segment the index no longer points into. */
  async drop(segment: number): Promise<void> {
    const seg = this.segments.get(segment);
    if (seg === undefined) return;
    if (seg === this.active) this.active = null;
    this.segments.delete(segment);
    await unlink(this.path(segment));
    // Readers that looked the location up just before may still be reading: close later.
    setTimeout(() => void seg.fh.close().catch(() => undefined), 10_000).unref();
  }

  async close(): Promise<void> {
    await this.tail;
    await this.sync();
    await Promise.all([...this.segments.values()].map((s) => s.fh.close()));
    this.segments.clear();
    this.active = null;
  }
}

/** Size of a directory's regular files, recursively (LevelDB's files and the segments). */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(p);
    else if (entry.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
