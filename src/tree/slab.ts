import { Buffer } from 'node:buffer';

/**
 * Nodes and their offset arrays are carved out of 64 KiB slabs: allocating one ArrayBuffer
 * per node cost as much as hashing it, and each of a node's four typed arrays (entry offsets,
 * child counts and sizes) took another ~0.7 µs and a malloc'd backing store for the GC to track.
 * Nodes built or loaded together are cached together and evicted together, so a slab is
 * rarely kept alive by a few stragglers.
 */
/** Below glibc's mmap threshold (the bin sets 128 KiB): a fresh 256 KiB slab was an mmap and 64 page faults. */
const SLAB_BYTES = 64 * 1024;
/** Not zero-filled: every byte handed out is written before the node is used (a node that fails to parse is dropped). */
const freshSlab = (bytes: number): ArrayBuffer => Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;

/** Carves 8-byte-aligned pieces out of a slab, and starts a fresh one when it is full. */
class Slabs {
  private slab = freshSlab(SLAB_BYTES);
  private used = 0;

  take(size: number): { buffer: ArrayBuffer; at: number } {
    if (size > SLAB_BYTES / 4) return { buffer: freshSlab(size), at: 0 };
    if (this.used + size > SLAB_BYTES) {
      this.slab = freshSlab(SLAB_BYTES);
      this.used = 0;
    }
    const at = this.used;
    this.used += align(size);
    return { buffer: this.slab, at };
  }
}

/** Nodes as they are built or loaded, with their offsets. */
const nodeSlabs = new Slabs();
/**
 * Search words, measured on a node's first read, which can come long after the node was built:
 * carved beside the nodes being built then, the words of 4k long-lived nodes kept 266 MB of
 * slabs of dead ones alive (docs/benchmarks.md). Nodes read are mostly nodes kept.
 */
const wordSlabs = new Slabs();

/** What a node needs besides its bytes: offsets of its n entries, and per child counts and sizes. */
export interface NodeArrays {
  keyStart: Uint32Array;
  valStart: Uint32Array;
  counts: Float64Array | null;
  sizes: Float64Array | null;
}

const align = (n: number): number => (n + 7) & ~7;

function arraysBytes(n: number, internal: boolean): number {
  return align(4 * (n + 1)) + align(4 * n) + (internal ? 16 * n : 0);
}

function arraysAt(buffer: ArrayBuffer, at: number, n: number, internal: boolean): NodeArrays {
  const keyStart = new Uint32Array(buffer, at, n + 1);
  let p = at + align(4 * (n + 1));
  const valStart = new Uint32Array(buffer, p, n);
  p += align(4 * n);
  if (!internal) return { keyStart, valStart, counts: null, sizes: null };
  const counts = new Float64Array(buffer, p, n);
  return { keyStart, valStart, counts, sizes: new Float64Array(buffer, p + 8 * n, n) };
}

/** Room for a node being built: its `size` bytes and the arrays of its `n` entries. */
export function nodeSpace(size: number, n: number, internal: boolean): { bytes: Buffer } & NodeArrays {
  const { buffer, at } = nodeSlabs.take(align(size) + arraysBytes(n, internal));
  return { bytes: Buffer.from(buffer, at, size), ...arraysAt(buffer, at + align(size), n, internal) };
}

/** The arrays of a node parsed from bytes it already has. */
export function nodeArrays(n: number, internal: boolean): NodeArrays {
  const { buffer, at } = nodeSlabs.take(arraysBytes(n, internal));
  return arraysAt(buffer, at, n, internal);
}

/** An array of `n` 32-bit words (a node's search words, measured on its first read). */
export function wordArray(n: number): Int32Array {
  const { buffer, at } = wordSlabs.take(4 * n);
  return new Int32Array(buffer, at, n);
}
