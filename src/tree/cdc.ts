import { createHash } from 'node:crypto';
import { BIN16, BIN32 } from '../codec/format.ts';
import { encodeBytes } from '../codec/index.ts';
import { idOf } from '../store/id.ts';
import { INLINE_MAX } from './blob.ts';
import { GearScanner } from './gear.ts';

/**
 * Content-defined chunking (docs/format.md §11): where a file is cut depends only on the bytes
 * near the cut, so an insert in the middle of a file changes the chunks around it and no
 * others, and the file's id depends only on its bytes, never on how they were sent.
 *
 * FastCDC (Xia et al., ATC '16) with its 2020 refinements: a gear hash, no test before MIN,
 * a harder mask up to AVG and an easier one after (normalized chunking, level 2), a cut at MAX
 * at the latest, and the hash rolled two bytes per step (one test per two bytes). The gear
 * table is fixed by the spec: entry i is the first four bytes of SHA-256 of the byte i.
 */
export const MIN_CHUNK = 64 * 1024;
export const AVG_CHUNK = 256 * 1024;
export const MAX_CHUNK = 1024 * 1024;
/** 19 and 15 high bits: a cut per 2^19 resp. 2^15 tested positions, one test per two bytes. */
const MASK_S = 0xffffe000 | 0;
const MASK_L = 0xfffe0000 | 0;

const GEAR = new Int32Array(256);
for (let i = 0; i < 256; i++) GEAR[i] = createHash('sha256').update(Uint8Array.of(i)).digest().readInt32BE(0);

/**
 * The end of the chunk that starts at `start`, given the bytes up to `end` in the scanner's
 * memory. Needs MAX_CHUNK bytes after `start`, or the end of the input (`final`); returns -1
 * when it needs more.
 */
function chunkEnd(g: GearScanner, start: number, end: number, final: boolean): number {
  const n = end - start;
  if (n < MAX_CHUNK && !final) return -1;
  if (n <= MIN_CHUNK) return end;
  const stop = n > MAX_CHUNK ? start + MAX_CHUNK : end;
  const mid = start + AVG_CHUNK < stop ? start + AVG_CHUNK : stop;
  const at = g.scan(start + MIN_CHUNK, mid, stop);
  return at < 0 ? stop : at;
}

/** One chunk of a file: its offset, its canonical value (bytes), and its blob id if it is one. */
export interface Chunk {
  offset: number;
  value: Uint8Array;
  /** The blob's id (sha2-256 of `value`); null for a chunk short enough to stay inline. */
  id: Uint8Array | null;
}

/**
 * Cuts a stream of pieces of any size into chunks, encodes and hashes each: the whole
 * per-byte work of an upload, so it can run off the main thread (chunk-worker.ts).
 */
export class ChunkStream {
  /** Where a blob chunk's value is built: a pool of reused buffers in the chunker thread. */
  private readonly alloc: (size: number) => Uint8Array;
  /** The unchunked bytes live in the scanner's memory, where the scan reads them. */
  private readonly gear = new GearScanner(GEAR, MASK_S, MASK_L, 2 * MAX_CHUNK);
  private start = 0;
  private end = 0;
  /** File offset of buf[start]. */
  private offset = 0;

  constructor(alloc: (size: number) => Uint8Array) {
    this.alloc = alloc;
  }

  push(piece: Uint8Array): Chunk[] {
    this.make(piece.length);
    this.gear.bytes.set(piece, this.end);
    this.end += piece.length;
    return this.cut(false);
  }

  finish(): Chunk[] {
    return this.cut(true);
  }

  /** Room for `n` more bytes, keeping the unchunked tail at the front. */
  private make(n: number): void {
    if (this.end + n <= this.gear.bytes.length) return;
    const tail = this.end - this.start;
    this.gear.reserve(tail + n);
    this.gear.bytes.copyWithin(0, this.start, this.end);
    this.start = 0;
    this.end = tail;
  }

  private cut(final: boolean): Chunk[] {
    const out: Chunk[] = [];
    const buf = this.gear.bytes;
    while (this.start < this.end) {
      const at = chunkEnd(this.gear, this.start, this.end, final);
      if (at < 0) break;
      const n = at - this.start;
      const head = n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
      if (n + head <= INLINE_MAX) {
        out.push({ offset: this.offset, value: encodeBytes(buf.subarray(this.start, at)), id: null });
      } else {
        const value = this.alloc(n + head);
        if (head === 3) value.set([BIN16, n >>> 8, n & 0xff]);
        else value.set([BIN32, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
        value.set(buf.subarray(this.start, at), head);
        out.push({ offset: this.offset, value, id: idOf(value) });
      }
      this.offset += at - this.start;
      this.start = at;
    }
    return out;
  }
}
