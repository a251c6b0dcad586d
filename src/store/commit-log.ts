import { crc32 } from 'node:zlib';
import { CrissError } from '../errors.ts';
import { ID_BYTES } from './id.ts';
import { indexEntry, nodeAtKey } from './records.ts';
import type { Location, Position, SegmentFiles } from './segments.ts';

/**
 * Commit records (docs/format.md §8.2): every write appends, after its node records and blobs
 * and in the same write, a record of the LevelDB operations it makes, then syncs the segments
 * once. Its LevelDB batch is then written without a sync of its own: after a crash that lost
 * the batch, `replay` rebuilds it from the commit records past the last checkpoint LevelDB kept.
 * That halves the syncs a write waits for (segments, then LevelDB's log, before).
 */
export type LogOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface CommitRecord {
  /** The head of the write's first node record; its node records follow it in order. */
  first: Position;
  count: number;
  /** CRC-32 of the node records' ids and bytes, in order (`recordsCrc`). */
  crc: number;
  /** Everything else the write puts in LevelDB: blob locations, pins, variables. */
  ops: LogOp[];
}

const MARK = 0x43; // 'C'
const VERSION = 1;
const PUT = 1;
const DEL = 2;
const FIXED = 1 + 4 + 4 + 6 + 4 + 4;

/** A commit record's id slot starts `00 43`: no block id does (theirs start with sha2-256's `12 20`). */
export function isCommitId(id: Uint8Array): boolean {
  return id[0] === 0x00 && id[1] === MARK;
}

/** CRC-32 of records' ids and bytes in order: what a commit record says its node records hold. */
export function recordsCrc(records: ReadonlyArray<{ id: Uint8Array; bytes: Uint8Array }>): number {
  let crc = 0;
  for (const r of records) crc = crc32(r.bytes, crc32(r.id, crc));
  return crc;
}

export function encodeCommit(rec: CommitRecord): { id: Buffer; bytes: Buffer } {
  let size = FIXED;
  for (const op of rec.ops) size += 1 + 2 + op.key.length + (op.type === 'put' ? 4 + op.value.length : 0);
  const b = Buffer.allocUnsafe(size);
  b[0] = VERSION;
  b.writeUInt32BE(rec.count, 1);
  b.writeUInt32BE(rec.first.segment, 5);
  b.writeUIntBE(rec.first.offset, 9, 6);
  b.writeUInt32BE(rec.crc >>> 0, 15);
  b.writeUInt32BE(rec.ops.length, 19);
  let p = FIXED;
  for (const op of rec.ops) {
    if (op.key.length > 0xffff) throw new CrissError('ERR', 'a store key over 65,535 bytes');
    b[p] = op.type === 'put' ? PUT : DEL;
    b.writeUInt16BE(op.key.length, p + 1);
    b.set(op.key, p + 3);
    p += 3 + op.key.length;
    if (op.type === 'put') {
      b.writeUInt32BE(op.value.length, p);
      b.set(op.value, p + 4);
      p += 4 + op.value.length;
    }
  }
  const id = Buffer.alloc(ID_BYTES);
  id[1] = MARK;
  id.writeUInt32BE(crc32(b), 2);
  return { id, bytes: b };
}

/** The record, or undefined when its checksum or its shape is wrong (a torn write). */
export function decodeCommit(id: Uint8Array, bytes: Uint8Array): CommitRecord | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isCommitId(id) || b.length < FIXED || Buffer.from(id.buffer, id.byteOffset, id.byteLength).readUInt32BE(2) !== crc32(b) || b[0] !== VERSION) return undefined;
  const ops: LogOp[] = [];
  const n = b.readUInt32BE(19);
  let p = FIXED;
  for (let i = 0; i < n; i++) {
    if (p + 3 > b.length) return undefined;
    const type = b[p];
    const klen = b.readUInt16BE(p + 1);
    const key = b.subarray(p + 3, p + 3 + klen);
    p += 3 + klen;
    if (type === DEL && p <= b.length) ops.push({ type: 'del', key });
    else if (type === PUT && p + 4 <= b.length) {
      const vlen = b.readUInt32BE(p);
      ops.push({ type: 'put', key, value: b.subarray(p + 4, p + 4 + vlen) });
      p += 4 + vlen;
    } else return undefined;
  }
  if (p !== b.length) return undefined;
  return { count: b.readUInt32BE(1), first: { segment: b.readUInt32BE(5), offset: b.readUIntBE(9, 6) }, crc: b.readUInt32BE(15), ops };
}

/** A position as LevelDB keeps the checkpoint: segment (uint32), offset (uint48). */
export function encodePosition(p: Position): Buffer {
  const b = Buffer.allocUnsafe(10);
  b.writeUInt32BE(p.segment, 0);
  b.writeUIntBE(p.offset, 4, 6);
  return b;
}

export function decodePosition(b: Uint8Array): Position {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length !== 10) throw new CrissError('ERR', 'corrupt checkpoint in the index');
  return { segment: buf.readUInt32BE(0), offset: buf.readUIntBE(4, 6) };
}

/** The position just past the bytes at `at`: where the next record's head goes. */
export function endOf(at: Location): Position {
  return { segment: at.segment, offset: at.offset + at.length };
}

export interface Replayed {
  /** The LevelDB operations of every whole commit from the checkpoint on, in order. */
  ops: LogOp[];
  commits: number;
}

/**
 * The writes the commit records from `from` on describe, up to the first one that is not whole
 * (torn by a crash: its checksum, its node records' checksum, or `check` of one of its
 * operations fails; no later write can have been acknowledged). `check` verifies what the
 * operations point at (a blob's bytes against its id).
 */
export async function replay(segments: SegmentFiles, from: Position, check: (op: LogOp) => Promise<boolean>): Promise<Replayed> {
  const out: Replayed = { ops: [], commits: 0 };
  for await (const r of segments.scan(from, isCommitId)) {
    if (!isCommitId(r.id)) continue;
    const rec = decodeCommit(r.id, r.bytes as Uint8Array);
    if (rec === undefined) break;
    const nodes = await segments.readRecords(rec.first, rec.count);
    if (nodes === undefined || recordsCrc(nodes) !== rec.crc) break;
    let whole = true;
    for (let i = 0; i < rec.ops.length && whole; i++) whole = await check(rec.ops[i]);
    if (!whole) break;
    for (const n of nodes) out.ops.push({ type: 'put', key: nodeAtKey(n.id), value: indexEntry(n.at, n.bytes) });
    out.ops.push(...rec.ops);
    out.commits++;
  }
  return out;
}
