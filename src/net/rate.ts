/**
 * Per-peer token buckets of bytes: what the block exchange may send one peer per second, with
 * a burst of two seconds' worth. A peer over its budget is made to wait, not refused, so a
 * clone slows down instead of failing, and a peer asking for the same blocks in a loop costs
 * this node at most `bytesPerSecond` of upload.
 */
export class PeerRates {
  private readonly rate: number;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `bytesPerSecond` 0 means unlimited. */
  constructor(bytesPerSecond: number) {
    this.rate = bytesPerSecond;
  }

  /** Takes `bytes` from `peer`'s bucket; returns how many ms to wait before sending them (0: none). */
  take(peer: string, bytes: number, now = Date.now()): number {
    if (this.rate <= 0) return 0;
    const burst = this.rate * 2;
    const b = this.buckets.get(peer) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) * this.rate) / 1000);
    b.at = now;
    b.tokens -= bytes;
    this.buckets.set(peer, b);
    if (this.buckets.size > 4096) this.forgetFull(now);
    return b.tokens >= 0 ? 0 : Math.ceil((-b.tokens * 1000) / this.rate);
  }

  /** Buckets that have refilled are the same as no bucket. */
  private forgetFull(now: number): void {
    for (const [peer, b] of this.buckets) if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.rate * 2) this.buckets.delete(peer);
  }
}
