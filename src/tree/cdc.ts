import { createHash } from 'node:crypto';
import { GearScanner, type WasmMemory } from './gear.ts';

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

/** A scanner with the spec's gear table and masks over the data area of `memory`. */
export function specScanner(memory: WasmMemory): GearScanner {
  return new GearScanner(memory, GEAR, MASK_S, MASK_L);
}

/**
 * The end of the chunk that starts at `start`, given the bytes up to `end` in the scanner's
 * data area. Needs MAX_CHUNK bytes after `start`, or the end of the input (`final`); returns -1
 * when it needs more.
 */
export function chunkEnd(g: GearScanner, start: number, end: number, final: boolean): number {
  const n = end - start;
  if (n < MAX_CHUNK && !final) return -1;
  if (n <= MIN_CHUNK) return end;
  const stop = n > MAX_CHUNK ? start + MAX_CHUNK : end;
  const mid = start + AVG_CHUNK < stop ? start + AVG_CHUNK : stop;
  const at = g.scan(start + MIN_CHUNK, mid, stop);
  return at < 0 ? stop : at;
}

