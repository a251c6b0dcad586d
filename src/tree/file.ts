import { encodeValue } from '../codec/index.ts';
import { BIN8, BIN16, BIN32, RANK_NUMBER } from '../codec/format.ts';
import { Head, readHead } from '../codec/head.ts';
import { CrissError } from '../errors.ts';
import { Lease } from '../store/buffer-pool.ts';
import type { Location } from '../store/segments.ts';
import { type Id, idKey, idToText } from '../store/id.ts';
import { blobRef, isRefAt, refLength, refTag } from './blob.ts';
import { type ChunkerSession, ChunkerThread, type UploadChunk } from './chunker-thread.ts';
import type { Mutation } from './mutate.ts';
import type { TreeNode } from './node.ts';
import type { Trees } from './index.ts';

/**
 * A file is a tree (docs/format.md §11): key = byte offset of a chunk (an integer), value = the
 * chunk (bytes), chunks cut by content (cdc.ts). Offsets sort numerically, so a byte range is
 * one seek and a forward walk, and iterating the tree yields the file in order.
 */

/** What an upload needs of the store: blobs go to segments as they arrive, not at the end. */
export interface BlobAppender {
  appendBlob(id: Id, bytes: Uint8Array | readonly Uint8Array[]): Promise<Location>;
  hasBlob(id: Id): Promise<boolean>;
  release(at: Location): void;
}

/** Chunks being appended at once: overlaps the disk with the chunker thread's next chunks. */
const MAX_IN_FLIGHT = 4;

let shared: ChunkerThread | undefined;

/** The chunker thread all uploads share (started on first use). */
export function sharedChunker(): ChunkerThread {
  shared ??= new ChunkerThread();
  return shared;
}

/**
 * One upload. Bytes arrive in pieces of any size; the chunker thread cuts and hashes chunks,
 * and each is appended to a segment as soon as it is known, so memory stays at a few chunks
 * whatever the file's size. Nothing is visible until `finish` commits the tree; an aborted
 * upload leaves only unindexed segment bytes, which the garbage collector reclaims.
 */
export class FileWriter {
  private readonly trees: Trees;
  private readonly appender: BlobAppender;
  private readonly session: ChunkerSession;
  private received = 0;
  private readonly muts: Mutation[] = [];
  private readonly appended: Array<{ id: Id; at: Location }> = [];
  private readonly reused: Array<{ id: Id; kind: 'blob' }> = [];
  private readonly seen = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = undefined;
  private done = false;
  private readonly since: number;

  constructor(trees: Trees, appender: BlobAppender, chunker: ChunkerThread = sharedChunker()) {
    this.trees = trees;
    this.appender = appender;
    this.since = trees.sink.sweepsDone;
    this.session = chunker.open((chunks) => {
      for (const c of chunks) this.emit(c);
    });
  }

  /** Bytes received so far. */
  get size(): number {
    return this.received;
  }

  async write(piece: Uint8Array): Promise<number> {
    this.check();
    this.received += piece.length;
    await this.session.push(piece);
    while (this.inFlight.size > MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    this.check();
    return this.received;
  }

  /** Commits the file's tree, pinned for `ttlMs`; returns its id. */
  async finish(ttlMs: number): Promise<Id> {
    this.check();
    await this.session.finish();
    await Promise.all(this.inFlight);
    this.check();
    this.done = true;
    try {
      return await this.trees.write(this.trees.emptyRoot, this.muts, ttlMs, { blobs: this.appended, uses: this.reused, since: this.since });
    } finally {
      // Indexed now, or never will be: either way the segments may be compacted again.
      for (const b of this.appended) this.appender.release(b.at);
      this.appended.length = 0;
    }
  }

  /** Drops the upload: its segment holds are released, nothing becomes visible. */
  close(): void {
    if (!this.done) this.session.drop();
    this.done = true;
    for (const b of this.appended) this.appender.release(b.at);
    this.appended.length = 0;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.done) throw new CrissError('ERR', 'this upload is finished');
  }

  private emit(c: UploadChunk): void {
    const key = encodeValue(c.offset);
    if (c.id === null) {
      this.muts.push({ key, val: c.value[0] });
      this.session.release(c);
      return;
    }
    const id = Buffer.from(c.id.buffer, c.id.byteOffset, c.id.byteLength);
    this.muts.push({ key, val: blobRef(id, c.value) });
    const k = idKey(id);
    if (this.seen.has(k)) {
      this.session.release(c);
      return;
    }
    this.seen.add(k);
    // Once written, found or failed, nothing refers to the chunk's bytes: the ring may reuse them.
    const job = this.store(id, c.value).catch((e: unknown) => {
      this.failure ??= e;
    }).finally(() => this.session.release(c));
    const tracked = job.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private async store(id: Id, value: readonly Uint8Array[]): Promise<void> {
    if (await this.appender.hasBlob(id)) {
      this.reused.push({ id, kind: 'blob' });
      return;
    }
    const at = await this.appender.appendBlob(id, value);
    if (this.done) this.appender.release(at);
    else this.appended.push({ id, at });
  }
}

const head = new Head();

/** A chunk entry's offset and, for an inline chunk, its bytes; for a blob, its reference. */
interface StoredChunk {
  offset: number;
  length: number;
  inline: Uint8Array | null;
  ref: Uint8Array | null;
}

function notAFile(root: Id, why: string): CrissError {
  return new CrissError('WRONGTYPE', `tree ${idToText(root)} is not a file: ${why}`);
}

function chunkOf(root: Id, key: Uint8Array, val: Uint8Array): StoredChunk {
  readHead(key, 0, head);
  if (head.rank !== RANK_NUMBER || head.isFloat || head.big !== null || head.num < 0) throw notAFile(root, 'a key is not a byte offset');
  const offset = head.num;
  if (isRefAt(val, 0)) {
    const t = refTag(val);
    if (t !== BIN16 && t !== BIN32) throw notAFile(root, `the chunk at ${offset} is not bytes`);
    return { offset, length: refLength(val) - (t === BIN32 ? 5 : 3), inline: null, ref: val };
  }
  readHead(val, 0, head);
  if (val[0] !== BIN8 && val[0] !== BIN16 && val[0] !== BIN32) throw notAFile(root, `the chunk at ${offset} is not bytes`);
  return { offset, length: head.len, inline: val.subarray(head.start, head.start + head.len), ref: null };
}

/** The file's length in bytes: the last chunk's offset plus its length, from one path. */
export async function fileSize(trees: Trees, root: TreeNode): Promise<number> {
  for await (const e of trees.entries(root, { reverse: true })) {
    const c = chunkOf(root.id, e.key, e.val);
    return c.offset + c.length;
  }
  return 0;
}

/** Bytes of a file as slices of its chunks, which stay valid until `release`. */
export interface FileBytes {
  parts: Uint8Array[];
  /** Once, when nothing reads `parts` any more: their buffers may then hold other blocks. */
  release(): void;
}

/**
 * Bytes [offset, offset + length) of a file, clipped at its end, as the chunks' slices in
 * order. The chunks of the range are fetched together, so a range read is one seek plus
 * parallel block reads.
 */
export async function readFile(trees: Trees, root: TreeNode, offset: number, length: number): Promise<FileBytes> {
  if (length === 0 || root.length === 0) return { parts: [], release: () => undefined };
  let first: Uint8Array | undefined;
  for await (const e of trees.entries(root, { max: { key: encodeValue(offset), inclusive: true }, reverse: true })) {
    first = e.key;
    break;
  }
  const stop = offset + length;
  const chunks: StoredChunk[] = [];
  let expect: number | undefined;
  for await (const e of trees.entries(root, first === undefined ? {} : { min: { key: first, inclusive: true } })) {
    const c = chunkOf(root.id, e.key, e.val);
    if (expect !== undefined && expect !== c.offset) throw notAFile(root.id, `bytes missing before offset ${c.offset}`);
    expect = c.offset + c.length;
    if (c.offset + c.length > offset) chunks.push(c);
    if (expect >= stop) break;
  }
  const read = await Promise.allSettled(chunks.map((c) => (c.inline !== null ? Lease.of(c.inline) : trees.blobLease(c.ref as Uint8Array))));
  const leases: Lease[] = [];
  for (const r of read) if (r.status === 'fulfilled') leases.push(r.value);
  const failed = read.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    for (const l of leases) l.release();
    throw failed.reason;
  }
  const parts = leases.map((l, i) => {
    const c = chunks[i];
    const body = l.bytes.subarray(l.bytes.length - c.length);
    return body.subarray(Math.max(0, offset - c.offset), Math.min(c.length, stop - c.offset));
  });
  let released = false;
  return {
    parts,
    release: () => {
      if (released) return;
      released = true;
      for (const l of leases) l.release();
    },
  };
}
