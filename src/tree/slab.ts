import { Buffer } from 'node:buffer';

/**
 * Nodes and their offset arrays are carved out of 64 KiB slabs: allocating one ArrayBuffer
 * per node cost as much as hashing it, and each of a node's four typed arrays (entry offsets,
 * child counts and sizes) took another ~0.7 µs and a malloc'd backing store for the GC to track.
 *
 * A slab lives as long as any node carved from it, and nodes built together need not die
 * together: random writes into a 1M-key tree replace each leaf at a random time, and slabs
 * holding a few live leaves each kept 875 MB of ArrayBuffers alive for a cache of 176 MiB
 * (one ArrayBuffer per node instead: 191 MB, but 20 % more CPU a pair; docs/benchmarks.md).
 * So a slab knows the nodes a cache holds in it (its tenants), and when fewer than half of
 * the nodes carved from it are left, they move to the slab being filled: each byte copied is
 * paid for by at least as many freed, and no slab is less than half used for long.
 */
/** Below glibc's mmap threshold (the bin sets 128 KiB): a fresh 256 KiB slab was an mmap and 64 page faults. */
const SLAB_BYTES = 64 * 1024;
/** Not zero-filled: every byte handed out is written before the node is used (a node that fails to parse is dropped). */
const freshBuffer = (bytes: number): ArrayBuffer => Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;

/** A node a cache holds, carved from a slab, which can move to another (TreeNode.relocate). */
export interface Tenant {
  /** Its place among its slab's tenants; -1 while it has none. */
  tenantAt: number;
  relocate(): void;
}

export class Slab {
  readonly buffer = freshBuffer(SLAB_BYTES);
  used = 0;
  /** Nodes carved from it so far. */
  carved = 0;
  readonly tenants: Tenant[] = [];
}

/** Carves 8-byte-aligned pieces out of a slab, and starts a fresh one when it is full; null: the piece has a buffer of its own. */
class Slabs {
  current = new Slab();

  take(size: number): { slab: Slab | null; buffer: ArrayBuffer; at: number } {
    if (size > SLAB_BYTES / 4) return { slab: null, buffer: freshBuffer(size), at: 0 };
    if (this.current.used + size > SLAB_BYTES) this.current = new Slab();
    const slab = this.current;
    const at = slab.used;
    slab.used += align(size);
    slab.carved++;
    return { slab, buffer: slab.buffer, at };
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

/** Room for a node being built: its `size` bytes and the arrays of its `n` entries, and the slab holding them. */
export function nodeSpace(size: number, n: number, internal: boolean): { bytes: Buffer; slab: Slab | null } & NodeArrays {
  const { slab, buffer, at } = nodeSlabs.take(align(size) + arraysBytes(n, internal));
  return { bytes: Buffer.from(buffer, at, size), slab, ...arraysAt(buffer, at + align(size), n, internal) };
}

/** The arrays of a node parsed from bytes it already has, and the slab holding them. */
export function nodeArrays(n: number, internal: boolean): { slab: Slab | null } & NodeArrays {
  const { slab, buffer, at } = nodeSlabs.take(arraysBytes(n, internal));
  return { slab, ...arraysAt(buffer, at, n, internal) };
}

/** A cache took `t`, carved from `slab`. */
export function settle(slab: Slab | null, t: Tenant): void {
  if (slab === null || t.tenantAt >= 0) return;
  t.tenantAt = slab.tenants.length;
  slab.tenants.push(t);
}

/** No cache holds `t` any longer; the slab's last tenants move out once fewer than half its nodes are left. */
export function vacate(slab: Slab | null, t: Tenant): void {
  if (slab === null || t.tenantAt < 0) return;
  const { tenants } = slab;
  const last = tenants.pop() as Tenant;
  if (last !== t) {
    tenants[t.tenantAt] = last;
    last.tenantAt = t.tenantAt;
  }
  t.tenantAt = -1;
  if (slab === nodeSlabs.current || tenants.length * 2 >= slab.carved) return;
  const movers = tenants.splice(0);
  slab.carved = 0;
  for (const m of movers) {
    m.tenantAt = -1;
    m.relocate();
  }
}

/** An array of `n` 32-bit words (a node's search words, measured on its first read). */
export function wordArray(n: number): Int32Array {
  const { buffer, at } = wordSlabs.take(4 * n);
  return new Int32Array(buffer, at, n);
}
