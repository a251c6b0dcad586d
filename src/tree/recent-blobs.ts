/**
 * Verified blobs read lately (or being read), by id, bounded by bytes, oldest dropped first. A
 * `cat` asks for the chunk that straddles two of its windows once per window, usually while the
 * first read is still under way: both get one read and one hash. Blobs are immutable, so a kept
 * one never goes stale; a blob over a quarter of the budget is shared while in flight, not kept.
 */
export class RecentBlobs {
  private readonly map = new Map<string, { bytes: number; value: Promise<Uint8Array> }>();
  private total = 0;
  private readonly max: number;

  constructor(maxBytes: number) {
    this.max = maxBytes;
  }

  /** The blob under `key`, from `load` unless it is here or on its way. */
  get(key: string, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      // Most recently used last: eviction takes from the front.
      this.map.delete(key);
      this.map.set(key, hit);
      return hit.value;
    }
    const entry = { bytes: 0, value: load() };
    this.map.set(key, entry);
    entry.value.then((b) => {
      if (this.map.get(key) !== entry) return;
      if (b.length > this.max / 4) {
        this.map.delete(key);
        return;
      }
      entry.bytes = b.length;
      this.total += b.length;
      for (const [k, e] of this.map) {
        if (this.total <= this.max) break;
        this.map.delete(k);
        this.total -= e.bytes;
      }
    }, () => {
      if (this.map.get(key) === entry) this.map.delete(key);
    });
    return entry.value;
  }
}
