import { ID_BYTES, type Id } from '../store/id.ts';

const CHUNK = 4096;

/**
 * Roots handed to clients without a pin (TTL 0), for the grace period during which the
 * collector spares them. Kept as packed chunks of ids (34 bytes per root, timestamps per
 * chunk): a busy writer hands out a million such roots a minute. A chunk spans at most a
 * sixteenth of the grace period, so a root is spared at least the grace period and at most
 * that sixteenth longer.
 */
export class RecentRoots {
  private readonly graceMs: number;
  private chunks: Array<{ ids: Buffer; n: number; first: number; last: number }> = [];

  constructor(graceMs: number) {
    this.graceMs = graceMs;
  }

  add(id: Id, now = Date.now()): void {
    let c = this.chunks.at(-1);
    if (c === undefined || c.n === CHUNK || now - c.first > this.graceMs / 16) {
      this.prune(now);
      c = { ids: Buffer.allocUnsafe(CHUNK * ID_BYTES), n: 0, first: now, last: now };
      this.chunks.push(c);
    }
    c.ids.set(id, c.n * ID_BYTES);
    c.n++;
    c.last = now;
  }

  /** Every root handed out within the grace period (a chunk is kept while its newest is). */
  *live(now = Date.now()): Generator<Id> {
    this.prune(now);
    for (const c of this.chunks) for (let i = 0; i < c.n; i++) yield c.ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
  }

  get count(): number {
    let n = 0;
    for (const c of this.chunks) n += c.n;
    return n;
  }

  /** A root is spared while less than the grace period has passed: with none, not at all, even within its millisecond. */
  private prune(now: number): void {
    while (this.chunks.length > 0 && this.chunks[0].last <= now - this.graceMs) this.chunks.shift();
  }
}
