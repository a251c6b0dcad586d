import { BIN16, BIN32 } from '../codec/format.ts';
import { encodeBytes } from '../codec/index.ts';
import { idOfPieces } from '../store/id.ts';
import { INLINE_MAX } from './blob.ts';
import { MAX_CHUNK, chunkEnd, specScanner } from './cdc.ts';
import type { GearScanner } from './gear.ts';
import { UploadRing } from './upload-ring.ts';

/** A chunk cut from an upload's ring: the file's bytes [offset, offset + length). */
export interface Cut {
  offset: number;
  length: number;
  /** The canonical value of a chunk short enough to stay inline (a copy); null for a blob. */
  inline: Uint8Array | null;
  /** A blob's id: sha2-256 of its head (`blobHead`) and its bytes; null for an inline chunk. */
  id: Uint8Array | null;
}

/** The bin16/bin32 head of a blob chunk of `n` bytes: with the bytes, its canonical value. */
export function blobHead(n: number): Uint8Array {
  return n <= 0xffff ? Uint8Array.of(BIN16, n >>> 8, n & 0xff) : Uint8Array.of(BIN32, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/**
 * Cuts an upload's bytes, as they reach its ring, into chunks (cdc.ts), and hashes each blob
 * where it lies: the whole per-byte work of an upload, so it runs off the main thread
 * (chunk-worker.ts). The ring's bytes are left in place for the segment writes.
 */
export class ChunkStream {
  private readonly ring: UploadRing;
  private readonly gear: GearScanner;
  /** File offset of the next chunk. */
  private offset = 0;

  constructor(ring: UploadRing) {
    this.ring = ring;
    this.gear = specScanner(ring.memory);
  }

  /** The chunks that the file's bytes up to `end` make (all of them, when `final`: `end` is the file's size). */
  cut(end: number, final: boolean): Cut[] {
    const out: Cut[] = [];
    while (this.offset < end) {
      const n = end - this.offset;
      if (n < MAX_CHUNK && !final) break;
      // A chunk is at most MAX_CHUNK bytes: the scan needs no more than that in one run.
      const run = Math.min(n, MAX_CHUNK);
      this.ring.straighten(this.offset, run);
      const start = UploadRing.at(this.offset);
      const length = chunkEnd(this.gear, start, start + run, final) - start;
      const bytes = this.ring.view(this.offset, length);
      const head = length <= 0xff ? 2 : length <= 0xffff ? 3 : 5;
      if (length + head <= INLINE_MAX) out.push({ offset: this.offset, length, inline: encodeBytes(bytes), id: null });
      else out.push({ offset: this.offset, length, inline: null, id: idOfPieces([blobHead(length), bytes]) });
      this.offset += length;
    }
    return out;
  }
}
