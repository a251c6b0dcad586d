/**
 * Buffers for big blocks read back from segments, reused once every reader is done with them.
 * V8 counts each fresh ArrayBuffer as external memory and runs a full collection after every
 * few tens of MiB of them, however briefly they live: a 256 MiB `cat` read into fresh buffers
 * took 9 full collections and about a third of the daemon's CPU. A reader that can say when it
 * is done (a reply, once the socket has taken it) takes a `Lease`; anything else escapes the
 * lease and leaves its buffer to the garbage collector as before.
 */
export class Lease {
  /** The block's bytes: a view of the first `length` bytes of a pooled buffer. */
  readonly bytes: Buffer;
  private refs = 1;
  private pool: BufferPool | null;
  private readonly backing: Buffer;

  constructor(backing: Buffer, length: number, pool: BufferPool | null) {
    this.backing = backing;
    this.bytes = backing.subarray(0, length);
    this.pool = pool;
  }

  /** A lease on bytes that belong to no pool (a peer's block, a small value). */
  static of(bytes: Uint8Array): Lease {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    return new Lease(b, b.length, null);
  }

  /** `n` more holders, each of which releases once. */
  retain(n = 1): this {
    if (this.refs <= 0) throw new Error('a released lease was retained');
    this.refs += n;
    return this;
  }

  /** One holder is done; the last one hands the buffer back to its pool. */
  release(): void {
    if (this.refs <= 0) throw new Error('a lease was released more often than it was held');
    if (--this.refs === 0 && this.pool !== null) this.pool.give(this.backing);
  }

  /** The bytes, for a reader that keeps them without saying when it is done: never reused. */
  escape(): Buffer {
    this.pool = null;
    return this.bytes;
  }
}

/** Buffers are allocated in steps of this many bytes, so that blocks of similar sizes share them. */
const STEP = 64 * 1024;
/** A free buffer this much bigger than a block (and than one step) is left for a bigger one. */
const MAX_WASTE = 1.5;

export class BufferPool {
  /** Free buffers by ascending size. */
  private readonly free: Buffer[] = [];
  private freeBytes = 0;
  private readonly maxFreeBytes: number;
  readonly stats = { reused: 0, allocated: 0 };

  /** `maxFreeBytes`: free buffers kept for reuse at most; the rest go to the garbage collector. */
  constructor(maxFreeBytes: number) {
    this.maxFreeBytes = maxFreeBytes;
  }

  /** A lease on `length` bytes (contents undefined), from a free buffer that fits when there is one. */
  lease(length: number): Lease {
    const i = this.firstFitting(length);
    if (i < this.free.length && this.free[i].length <= Math.max(STEP, length * MAX_WASTE)) {
      const b = this.free[i];
      this.free.splice(i, 1);
      this.freeBytes -= b.length;
      this.stats.reused++;
      return new Lease(b, length, this);
    }
    this.stats.allocated++;
    return new Lease(Buffer.allocUnsafeSlow(Math.max(STEP, Math.ceil(length / STEP) * STEP)), length, this);
  }

  get pooledBytes(): number {
    return this.freeBytes;
  }

  /** Called by the last `release` of a lease. */
  give(b: Buffer): void {
    if (this.freeBytes + b.length > this.maxFreeBytes) return;
    this.free.splice(this.firstFitting(b.length), 0, b);
    this.freeBytes += b.length;
  }

  private firstFitting(length: number): number {
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.free[mid].length < length) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
