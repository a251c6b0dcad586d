import type { Lease } from '../store/buffer-pool.ts';

interface Entry {
  bytes: number;
  /** Set once loaded: a hit retains it at once, before anything can evict it. */
  lease: Lease | null;
  /** Gets that arrived while it was loading: each gets a reference when it lands. */
  waiting: number;
  ready: Promise<Lease>;
}

/**
 * Verified blobs read lately (or being read), by id, bounded by bytes, oldest dropped first. A
 * `cat` asks for the chunk that straddles two of its windows once per window, usually while the
 * first read is still under way: both get one read and one hash. Blobs are immutable, so a kept
 * one never goes stale; a blob over a quarter of the budget is shared while in flight, not kept.
 * The cache holds one reference to each lease it keeps and every `get` hands out one more, so a
 * buffer goes back to its pool only once it is evicted and every reader has released it.
 */
export class RecentBlobs {
  private readonly map = new Map<string, Entry>();
  private total = 0;
  private readonly max: number;

  constructor(maxBytes: number) {
    this.max = maxBytes;
  }

  /** The blob under `key`, from `load` unless it is here or on its way; the caller releases the lease once. */
  get(key: string, load: () => Promise<Lease>): Promise<Lease> {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      // Most recently used last: eviction takes from the front.
      this.map.delete(key);
      this.map.set(key, hit);
      if (hit.lease !== null) return Promise.resolve(hit.lease.retain());
      hit.waiting++;
      return hit.ready;
    }
    const loaded = Promise.withResolvers<Lease>();
    const entry: Entry = { bytes: 0, lease: null, waiting: 1, ready: loaded.promise };
    load().then((lease) => {
      // The load's own reference is the cache's; every waiting get takes one more.
      lease.retain(entry.waiting);
      if (lease.bytes.length > this.max / 4) {
        this.map.delete(key);
        lease.release();
        loaded.resolve(lease);
        return;
      }
      entry.lease = lease;
      entry.bytes = lease.bytes.length;
      this.total += entry.bytes;
      for (const [k, e] of this.map) {
        if (this.total <= this.max) break;
        // Entries still loading are skipped: they are not counted in the total yet.
        if (e.lease === null) continue;
        this.map.delete(k);
        this.total -= e.bytes;
        e.lease.release();
      }
      loaded.resolve(lease);
    }, (e: unknown) => {
      this.map.delete(key);
      loaded.reject(e);
    });
    this.map.set(key, entry);
    return entry.ready;
  }
}
