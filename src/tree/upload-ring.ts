import { MAX_CHUNK } from './cdc.ts';
import { type WasmMemory, dataArea, scannerMemory } from './gear.ts';

/**
 * Where an upload's bytes lie from the socket to the segment file: one memory shared by the main
 * thread, which writes each piece in, and the chunker thread, which scans and hashes the bytes
 * where they lie; a blob chunk is then appended to its segment from there. The main thread's
 * copy of each piece is the only one in user space (three before: a piece slot, the scanner's
 * memory, a chunk slot; docs/benchmarks.md).
 *
 * File offset `o` lies at `o % RING_BYTES` of the data area. A chunk that crosses the end is
 * made whole by `straighten`, which copies its part past the end into the slack that follows
 * (at most MAX_CHUNK bytes, once per lap). The writer keeps its unreleased bytes under
 * `RING_BYTES - MAX_CHUNK` (`room`): then a byte is overwritten only once the chunk holding it
 * is released, and the slack only once the chunk that last crossed the end is (the next chunk to
 * cross it needs bytes a lap later, written only once everything up to a chunk's length past the
 * last crossing is released).
 *
 * 5 MiB: with 2 MiB of room (a 4 MiB ring) an upload ran at 255–272 MiB/s against 339–392 with 4
 * MiB or more, and an 8 MiB ring put the daemon's peak RSS over 200 MiB (docs/benchmarks.md).
 */
export const RING_BYTES = 5 * 1024 * 1024;
const SLACK = MAX_CHUNK;
const LIMIT = RING_BYTES - MAX_CHUNK;

export class UploadRing {
  readonly memory: WasmMemory;
  private readonly data: Buffer;

  constructor(memory: WasmMemory = scannerMemory(RING_BYTES + SLACK)) {
    this.memory = memory;
    this.data = dataArea(memory);
  }

  /** Where file offset `o` lies in the data area, as the scanner addresses it. */
  static at(o: number): number {
    return o % RING_BYTES;
  }

  /** Bytes the writer may add when it has written up to `end` and everything before `released` is released. */
  static room(end: number, released: number): number {
    return LIMIT - (end - released);
  }

  /** Writes `bytes` as file bytes [o, o + bytes.length); `room` must allow it. */
  write(o: number, bytes: Uint8Array): void {
    const at = UploadRing.at(o);
    const first = Math.min(bytes.length, RING_BYTES - at);
    this.data.set(first === bytes.length ? bytes : bytes.subarray(0, first), at);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
  }

  /** Makes file bytes [o, o + n) (n ≤ MAX_CHUNK, all written) one run of the data area, from `at(o)` on. */
  straighten(o: number, n: number): void {
    const past = UploadRing.at(o) + n - RING_BYTES;
    if (past > 0) this.data.copyWithin(RING_BYTES, 0, past);
  }

  /** File bytes [o, o + n), straightened. */
  view(o: number, n: number): Buffer {
    const at = UploadRing.at(o);
    return this.data.subarray(at, at + n);
  }
}
