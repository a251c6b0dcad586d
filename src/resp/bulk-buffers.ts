/**
 * Big input buffers that the request decoders of all connections take and hand back. A piece of
 * an upload (FILEWRITE, 1 MiB from the CLI) is gathered from the socket's 64 KiB chunks into one
 * buffer; allocated fresh each time, such a buffer is a new mmap (glibc maps anything over 128
 * KiB, and the bin keeps that threshold for RSS), so the kernel faults in and zeroes every 4 KiB
 * page of every piece: a quarter of an upload's speed (docs/benchmarks.md). A buffer is handed
 * back only once no decoded argument can point into it: its decoder has moved on and every
 * command decoded from it was recycled by a handler that keeps nothing (CommandSpec.releasesArgs).
 * A command never recycled keeps its buffer out of the pool for good; the GC frees it as usual.
 */

/** Room for the most a paused connection holds (2 MiB of pending input plus a socket read). */
export const BULK_BUFFER_BYTES = 2 * 1024 * 1024 + 128 * 1024;
/** Smaller buffers come from malloc's arena, already faulted in: not worth a pooled one. */
export const BULK_MIN_BYTES = 128 * 1024;
/** Free buffers kept: an upload cycles through two, one filling while a handler reads the other. */
const MAX_FREE = 2;
/** Free buffers untaken this long are freed, so an idle daemon's RSS is what it was before the upload. */
const IDLE_MS = 2_000;

export class BulkBuffer {
  private readonly memory = new ArrayBuffer(BULK_BUFFER_BYTES);
  readonly bytes = Buffer.from(this.memory);
  /** Commands decoded with arguments in this buffer and not recycled yet. */
  refs = 0;
  /** A decoder still writes input into it. */
  filling = true;

  /**
   * Returns the memory to the system now, not at some later collection: the daemon's heap is
   * sized so that collections are rare, and RSS is a goal (docs/benchmarks.md). Only for a free
   * buffer: every view of it becomes empty.
   */
  release(): void {
    this.memory.transfer(0);
  }
}

const free: BulkBuffer[] = [];
let lastTaken = 0;
let idleTimer: NodeJS.Timeout | undefined;

function dropIdle(): void {
  idleTimer = undefined;
  if (Date.now() - lastTaken >= IDLE_MS) for (const b of free.splice(0)) b.release();
  else armIdleTimer();
}

function armIdleTimer(): void {
  idleTimer ??= setTimeout(dropIdle, IDLE_MS).unref();
}

/** A buffer of BULK_BUFFER_BYTES for a decoder to fill, reused when one is free. */
export function takeBulkBuffer(): BulkBuffer {
  lastTaken = Date.now();
  const reused = free.pop();
  if (reused === undefined) return new BulkBuffer();
  reused.filling = true;
  return reused;
}

/** Hands `b` back if nothing can refer to it any more. */
export function settleBulkBuffer(b: BulkBuffer): void {
  if (b.filling || b.refs !== 0 || free.length >= MAX_FREE) return;
  free.push(b);
  armIdleTimer();
}
