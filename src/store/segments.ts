import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CrissError } from '../errors.ts';
import type { BufferPool, Lease } from './buffer-pool.ts';
import { ALIGN, AlignedSlots, alignDown, alignUp, alignedMemory, openDirect, writeAligned } from './direct-io.ts';
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
 *
 * Writes and big reads bypass the page cache where the file system allows it (store/direct-io):
 * each write then starts on a 4 KiB boundary and its last block is padded with zeros, which a
 * scan skips (a record is never 0 bytes long).
 */
export const SEGMENT_BYTES = 256 * 1024 * 1024;
/** A record's head: its length (uint32 BE) and its id. */
export const RECORD_HEAD = 4 + ID_BYTES;
/** Synced in the background past this many unsynced bytes, so the commit's own sync stays short. */
const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;
const NAME = /^(\d{8})\.seg$/;
/** `readMany` reads two blocks with one pread when at most this many bytes lie between them… */
const SPAN_GAP = 16 * 1024;
/** …and the pread stays within this many bytes. */
const SPAN_BYTES = 512 * 1024;

/** Reads of `scan`: enough for a few hundred node records at a time. */
const SCAN_BYTES = 256 * 1024;
/** Appends go to the disk through this much aligned memory at a time. */
const STAGING_BYTES = 4 * 1024 * 1024;
/** Reads this long and longer (file chunks, big values) bypass the page cache… */
const DIRECT_READ_MIN = 64 * 1024;
/** …up to a file chunk's most (1 MiB, §11) and the partial blocks around it. */
const DIRECT_READ_MAX = 1024 * 1024 + 64 * 1024;
/** Direct reads under way at once (libuv's pool has four threads): a cat keeps more in flight. */
const DIRECT_READS = 8;

export interface SegmentOptions {
  /** Whether to bypass the page cache where the file system allows it (default true). */
  direct?: boolean;
}

/** A place in the segments: a segment number and an offset in it. */
export interface Position {
  segment: number;
  offset: number;
}

/** A record met by `scan`: where its head is, its id and length, and its bytes when asked for. */
export interface ScannedRecord extends Position {
  id: Uint8Array;
  length: number;
  bytes: Uint8Array | undefined;
}

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

/** Bytes of a block given whole or in pieces. */
export function lengthOf(bytes: Uint8Array | readonly Uint8Array[]): number {
  if (bytes instanceof Uint8Array) return bytes.length;
  let n = 0;
  for (const b of bytes) n += b.length;
  return n;
}

/** A block to append: its id and its bytes, whole or in the pieces they arrived in. */
export interface Appended {
  id: Uint8Array;
  bytes: Uint8Array | readonly Uint8Array[];
}

interface Segment {
  readonly number: number;
  readonly fh: FileHandle;
  /** The same file opened with O_DIRECT (read-write while it is the active segment), or null. */
  readonly direct: FileHandle | null;
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
  /** Asked for, and not yet refused by the file system. */
  private direct: boolean;
  /** What appends go through to an O_DIRECT file; made on the first. */
  private staging: Uint8Array | null = null;
  private readonly readSlots = new AlignedSlots(DIRECT_READS, DIRECT_READ_MAX + 2 * ALIGN);

  private constructor(dir: string, next: number, direct: boolean) {
    this.dir = dir;
    this.next = next;
    this.direct = direct;
  }

  static async open(dir: string, opts: SegmentOptions = {}): Promise<SegmentFiles> {
    await mkdir(dir, { recursive: true });
    const numbers: number[] = [];
    for (const name of await readdir(dir)) {
      const m = NAME.exec(name);
      if (m !== null) numbers.push(Number(m[1]));
    }
    const files = new SegmentFiles(dir, numbers.length === 0 ? 1 : Math.max(...numbers) + 1, opts.direct !== false && (await allowsDirect(dir)));
    for (const n of numbers) {
      const fh = await open(files.path(n), 'r');
      const direct = files.direct ? await openDirect(files.path(n), constants.O_RDONLY) : null;
      files.segments.set(n, { number: n, fh, direct, size: (await fh.stat()).size, unsynced: 0, syncing: null, holds: 0 });
    }
    return files;
  }

  /** Whether appends and big reads bypass the page cache: asked for, and the file system allows it. */
  get directIo(): boolean {
    return this.direct;
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
  appendMany(items: readonly Appended[], hold = false): Promise<Location[]> {
    return this.serialized(() => this.appendNow(items, hold)).then((r) => r.at);
  }

  /**
   * Appends blocks, then a last record made by `seal` from their locations (a commit record,
   * docs/format.md §8.2), in the same writes: one write per segment spanned, one sync after.
   */
  appendSealed(items: readonly Appended[], seal: (at: Location[]) => Appended & { bytes: Uint8Array }): Promise<{ at: Location[]; sealed: Location }> {
    return this.serialized(() => this.appendNow(items, false, seal)) as Promise<{ at: Location[]; sealed: Location }>;
  }

  private serialized<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async appendNow(items: readonly Appended[], hold: boolean, seal?: (at: Location[]) => Appended): Promise<{ at: Location[]; sealed?: Location }> {
    const heads = Buffer.allocUnsafe(RECORD_HEAD * (items.length + (seal === undefined ? 0 : 1)));
    const writes: Array<{ seg: Segment; from: number; list: Uint8Array[] }> = [];
    // Synchronous but for rolling to a new segment: a group's ~100 records would otherwise
    // wait ~100 times behind whatever else the event loop has queued.
    const place = (seg: Segment, { id, bytes }: Appended, n: number): Location => {
      const pieces = bytes instanceof Uint8Array ? [bytes] : bytes;
      const length = lengthOf(pieces);
      let w = writes[writes.length - 1];
      if (w === undefined || w.seg !== seg) writes.push((w = { seg, from: seg.size, list: [] }));
      const head = heads.subarray(n * RECORD_HEAD, (n + 1) * RECORD_HEAD);
      head.writeUInt32BE(length, 0);
      head.set(id, 4);
      w.list.push(head, ...pieces);
      const at = { segment: seg.number, offset: seg.size + RECORD_HEAD, length };
      seg.size += RECORD_HEAD + length;
      if (hold) seg.holds++;
      return at;
    };
    // At least one record per segment, whatever its size: a fresh segment takes it.
    const segmentFor = (item: Appended): Segment | null => {
      const seg = this.active;
      return seg === null || (seg.size > 0 && seg.size + RECORD_HEAD + lengthOf(item.bytes) > SEGMENT_BYTES) ? null : seg;
    };
    const at: Location[] = [];
    for (let i = 0; i < items.length; i++) at.push(place(segmentFor(items[i]) ?? (await this.roll()), items[i], i));
    let sealed: Location | undefined;
    if (seal !== undefined) {
      const last = seal(at);
      sealed = place(segmentFor(last) ?? (await this.roll()), last, items.length);
    }
    for (const { seg, from, list } of writes) {
      const length = seg.size - from;
      const written = await this.write(seg, list, from).catch((e: unknown) => {
        this.retire(seg);
        throw e;
      });
      if (written < length) {
        this.retire(seg);
        throw new CrissError('ERR', `short write to segment ${seg.number}`);
      }
      // The padding of a direct write: the next one starts on a block boundary.
      seg.size = from + written;
      seg.unsynced += written;
      if (seg.unsynced >= BACKGROUND_SYNC_BYTES && seg.syncing === null) void this.syncSegment(seg).catch(() => undefined);
    }
    return { at, sealed };
  }

  /** Bytes written at `from`: through the aligned staging memory when `seg` is direct, padding included. */
  private async write(seg: Segment, list: Uint8Array[], from: number): Promise<number> {
    if (seg.direct !== null && this.direct) {
      this.staging ??= alignedMemory(STAGING_BYTES);
      try {
        return await writeAligned(seg.direct, this.staging, list, from);
      } catch (e) {
        // Memory the kernel found misaligned: nothing was written; go on through the page cache.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        this.direct = false;
      }
    }
    // libuv writes the whole list (in runs of IOV_MAX buffers, resuming after short writes) or fails.
    return (await seg.fh.writev(list, from)).bytesWritten;
  }

  /** No more appends behind a failed write: what follows it would be read after its garbage. */
  private retire(seg: Segment): void {
    if (this.active === seg) this.active = null;
  }

  private async roll(): Promise<Segment> {
    const n = this.next++;
    const fh = await open(this.path(n), 'wx+');
    const direct = this.direct ? await openDirect(this.path(n), constants.O_RDWR) : null;
    if (direct === null) this.direct = false;
    const seg: Segment = { number: n, fh, direct, size: 0, unsynced: 0, syncing: null, holds: 0 };
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

  /**
   * The records from `from` on, in order, through every later segment: each one's head, and its
   * bytes when `withBytes(id)` asks for them. A record that would pass the end of its file (a
   * torn tail) ends that segment's scan.
   */
  async *scan(from: Position, withBytes: (id: Uint8Array) => boolean): AsyncGenerator<ScannedRecord> {
    const numbers = [...this.segments.keys()].filter((n) => n >= from.segment).sort((a, b) => a - b);
    const buf = Buffer.allocUnsafe(SCAN_BYTES);
    for (const n of numbers) {
      const seg = this.segments.get(n) as Segment;
      let pos = n === from.segment ? from.offset : 0;
      let bufAt = 0;
      let bufLen = 0;
      while (pos + RECORD_HEAD <= seg.size) {
        if (pos < bufAt || pos + RECORD_HEAD > bufAt + bufLen) {
          bufAt = pos;
          bufLen = (await seg.fh.read(buf, 0, SCAN_BYTES, pos)).bytesRead;
          if (bufLen < RECORD_HEAD) break;
        }
        const length = buf.readUInt32BE(pos - bufAt);
        if (length === 0) {
          // The padding after a direct write: the next write begins on the next block.
          pos = alignUp(pos + 1);
          continue;
        }
        const id = Buffer.from(buf.subarray(pos - bufAt + 4, pos - bufAt + RECORD_HEAD));
        const end = pos + RECORD_HEAD + length;
        if (end > seg.size) break;
        let bytes: Uint8Array | undefined;
        if (withBytes(id)) {
          bytes = end <= bufAt + bufLen
            ? Buffer.from(buf.subarray(pos - bufAt + RECORD_HEAD, end - bufAt))
            : await this.read({ segment: n, offset: pos + RECORD_HEAD, length });
        }
        yield { segment: n, offset: pos, id, length, bytes };
        pos = end;
      }
    }
  }

  /**
   * `count` consecutive records from `from`, with their bytes, running on into the next
   * segment where one ends (a write that rolled); undefined when they are not all there.
   */
  async readRecords(from: Position, count: number): Promise<Array<{ id: Uint8Array; at: Location; bytes: Uint8Array }> | undefined> {
    const out: Array<{ id: Uint8Array; at: Location; bytes: Uint8Array }> = [];
    if (count === 0) return out;
    let last = from.segment;
    for await (const r of this.scan(from, () => true)) {
      if (r.segment !== last && (r.segment !== last + 1 || r.offset !== 0)) return undefined;
      last = r.segment;
      out.push({ id: r.id, at: { segment: r.segment, offset: r.offset + RECORD_HEAD, length: r.length }, bytes: r.bytes as Uint8Array });
      if (out.length === count) return out;
    }
    return undefined;
  }

  /** Where the next append goes: a fresh segment, never one written by an earlier run. */
  get nextPosition(): Position {
    return this.active === null ? { segment: this.next, offset: 0 } : { segment: this.active.number, offset: this.active.size };
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
    const direct = this.direct ? seg.direct : null;
    if (direct !== null && loc.length >= DIRECT_READ_MIN && loc.length <= DIRECT_READ_MAX) {
      const slot = await this.readSlots.take();
      try {
        const from = alignDown(loc.offset);
        const skip = loc.offset - from;
        // Past the end of the file the read comes back short, which is fine once it covers the block.
        const { bytesRead } = await direct.read(slot.bytes, 0, alignUp(skip + loc.length), from);
        if (bytesRead < skip + loc.length) throw new CrissError('ERR', `segment ${loc.segment} is shorter than its index says`);
        out.set(slot.bytes.subarray(skip, skip + loc.length));
        return;
      } catch (e) {
        // As for writes: memory the kernel found misaligned; read through the page cache from now on.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        this.direct = false;
      } finally {
        this.readSlots.give(slot.index);
      }
    }
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
    setTimeout(() => void closeSegment(seg).catch(() => undefined), 10_000).unref();
  }

  async close(): Promise<void> {
    await this.tail;
    await this.sync();
    await Promise.all([...this.segments.values()].map(closeSegment));
    this.segments.clear();
    this.active = null;
  }
}

/** Whether files in `dir` open with O_DIRECT (asked once, of a file made for it). */
async function allowsDirect(dir: string): Promise<boolean> {
  const probe = join(dir, 'direct-io.probe');
  await (await open(probe, 'w')).close();
  try {
    const fh = await openDirect(probe, constants.O_RDWR);
    await fh?.close();
    return fh !== null;
  } finally {
    await unlink(probe);
  }
}

async function closeSegment(seg: Segment): Promise<void> {
  await Promise.all([seg.fh.close(), seg.direct?.close()]);
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
