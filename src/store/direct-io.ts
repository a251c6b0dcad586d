import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/**
 * Segment bytes bypass the page cache (O_DIRECT). On the VMs we measured, the kernel's page
 * cache was the slowest part of moving a file: a buffered write of 512 MiB spent 0.3–4 s of
 * system time allocating cache pages (70–1,400 MB/s from run to run), a direct one 0.02 s at
 * 1.5–2 GB/s; reading it back uncached, 1.2 s against 0.02 s (docs/benchmarks.md). The daemon
 * keeps its own caches of what it reads again (nodes, recent blobs), so the page cache added
 * little but that cost.
 *
 * O_DIRECT wants offsets, lengths and memory aligned to the device's logical block: 4 KiB
 * covers both 512-byte and 4 KiB devices. Memory comes from WebAssembly memories, which start
 * on a page boundary (JavaScript has no other way to ask for aligned memory). Where the file
 * system refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE mounts), the caller falls back to
 * ordinary I/O.
 */
export const ALIGN = 4096;

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

export function alignDown(n: number): number {
  return n - (n % ALIGN);
}

const WASM_PAGE = 65536;
/** The one constructor of WebAssembly's API used here (the lib settings do not declare its types). */
const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (limits: { initial: number }) => { readonly buffer: ArrayBuffer } } }).WebAssembly;

/** `bytes` (rounded up to 64 KiB) of memory starting on a page boundary. */
export function alignedMemory(bytes: number): Uint8Array {
  return new Uint8Array(new wasm.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer);
}

/** `path` opened with O_DIRECT added to `flags`, or null where its file system refuses it. */
export async function openDirect(path: string, flags: number): Promise<FileHandle | null> {
  if (constants.O_DIRECT === undefined) return null;
  try {
    return await open(path, flags | constants.O_DIRECT);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw e;
  }
}

/**
 * Writes `pieces` at `at` (aligned) through `staging` (aligned, a multiple of ALIGN long), zero
 * padding the last block; returns the bytes written, padding included. Resolves once all of it
 * is written (not synced), so `staging` is free again.
 */
export async function writeAligned(fh: FileHandle, staging: Uint8Array, pieces: readonly Uint8Array[], at: number): Promise<number> {
  let fill = 0;
  let pos = at;
  const flush = async (length: number): Promise<void> => {
    const { bytesWritten } = await fh.write(staging, 0, length, pos);
    if (bytesWritten !== length) throw new Error(`short direct write: ${bytesWritten} of ${length} bytes`);
    pos += length;
    fill = 0;
  };
  for (const piece of pieces) {
    for (let off = 0; off < piece.length;) {
      const n = Math.min(piece.length - off, staging.length - fill);
      staging.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === staging.length) await flush(fill);
    }
  }
  if (fill > 0) {
    const padded = alignUp(fill);
    staging.fill(0, fill, padded);
    await flush(padded);
  }
  return pos - at;
}

/**
 * A few aligned buffers for direct reads, each holding one block and the partial blocks around
 * it. When all are taken, `take` waits for one: the reads run on libuv's few threads anyway.
 */
export class AlignedSlots {
  readonly slotBytes: number;
  private readonly count: number;
  /** Made on the first direct read. */
  private memory: Uint8Array | null = null;
  private readonly free: number[];
  private readonly waiting: Array<(index: number) => void> = [];

  constructor(count: number, slotBytes: number) {
    this.slotBytes = alignUp(slotBytes);
    this.count = count;
    this.free = Array.from({ length: count }, (_, i) => i);
  }

  async take(): Promise<{ index: number; bytes: Uint8Array }> {
    const index = this.free.pop() ?? (await new Promise<number>((resolve) => this.waiting.push(resolve)));
    this.memory ??= alignedMemory(this.slotBytes * this.count);
    return { index, bytes: this.memory.subarray(index * this.slotBytes, (index + 1) * this.slotBytes) };
  }

  give(index: number): void {
    const next = this.waiting.shift();
    if (next === undefined) this.free.push(index);
    else next(index);
  }
}
