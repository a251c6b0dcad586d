import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { Logger } from 'pino';
import { linksIn } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { BlockKind, BlockStore, CommitGuard, WriteSet } from '../store/blockstore.ts';
import { type Id, idEquals, idToText, parseId } from '../store/id.ts';
import type { Location } from '../store/segments.ts';
import { isRefAt, refId, refLength, refMayLink } from '../tree/blob.ts';
import { EMPTY_NODE, TreeNode } from '../tree/node.ts';
import { IdSet } from './idset.ts';
import { RecentRoots } from './recent.ts';

export interface CollectorOptions {
  /** How long a root handed out without a pin (TTL 0) is spared. */
  graceMs: number;
  /** Pause between background collections; 0 runs them only on request. */
  intervalMs: number;
  logger: Logger;
}

export interface GcReport {
  at: number;
  durationMs: number;
  /** Pinned roots, roots in their grace period and roots held by variables. */
  roots: number;
  markedBlocks: number;
  liveBytes: number;
  freedBlocks: number;
  /** How much the data directory shrank. */
  freedBytes: number;
  /** Bytes of dead blobs dropped from the index (returned to the disk as their segments are rewritten). */
  freedBlobBytes: number;
  freedPins: number;
  segmentsCompacted: number;
  /** Blocks a live root needs that the store lacks (never expected: logged as errors). */
  missing: number;
}

/** Ids read from the store per batch while marking. */
const BATCH = 512;
/** Deletions handed to the store at once: large enough to be cheap, small enough not to stall writes. */
const SWEEP_BATCH = 2048;
/** How stale INFO's store_bytes_on_disk may be. */
const DISK_REFRESH_MS = 2000;
/** Blobs moved per index update while compacting segments. */
const MOVE_BATCH = 64;
/** A segment is rewritten once less than this share of it is live. */
const COMPACT_BELOW = 0.5;

type Phase = 'idle' | 'mark' | 'sweep';

/**
 * Mark and sweep over the store (docs/format.md §10). Live roots are the pinned ones, those
 * handed out within the grace period and those variables hold; marking follows children,
 * blobs and links. The collector is the store's commit guard: it sees every write before it
 * lands, in order, interleaved with its own deletions (which run as `exclusive` jobs), so:
 * - blocks written while it runs are spared (`fresh`, never swept this round);
 * - a write that builds on blocks it did not write (`uses`: its base root, linked files,
 *   deduplicated blobs) is admitted only if those are live at the start (then marking
 *   reaches them), written during the collection, already marked, or can be traced now; a
 *   write on a tree whose blocks are already gone is refused with NOTFOUND, never half-made.
 */
export class Collector implements CommitGuard {
  private readonly store: BlockStore;
  private readonly opts: CollectorOptions;
  private readonly recent: RecentRoots;
  private readonly startedAt = Date.now();
  private phase: Phase = 'idle';
  private marked = new IdSet(1);
  private fresh = new IdSet(1);
  private roots = new IdSet(1);
  /** Whole nodes that live deltas are stored against: kept, though not traced (their children may be dead). */
  private keyframes = new IdSet(1);
  private running: Promise<GcReport> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private diskTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private diskBytes = 0;
  /** Bytes of the blocks marked so far in this collection. */
  private markedBytes = 0;
  runs = 0;
  last: GcReport | null = null;

  constructor(store: BlockStore, opts: CollectorOptions) {
    this.store = store;
    this.opts = opts;
    this.recent = new RecentRoots(opts.graceMs);
    store.guard = this;
  }

  /**
   * Background collections; the first waits out the grace period, covering roots handed out
   * before a restart. The data directory's size is measured every few seconds for INFO.
   */
  start(): void {
    void this.refreshDisk();
    this.diskTimer = setInterval(() => void this.refreshDisk(), DISK_REFRESH_MS);
    this.diskTimer.unref();
    if (this.opts.intervalMs > 0) this.schedule(Math.max(this.opts.graceMs, this.opts.intervalMs));
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.run()
        .catch((err: unknown) => {
          if (!this.stopping) this.opts.logger.error({ err }, 'garbage collection failed');
        })
        .finally(() => {
          if (!this.stopping) this.schedule(this.opts.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }

  /** Collects now; a collection already running is awaited first, so the report is fresh. */
  async run(): Promise<GcReport> {
    // Roots handed out without a pin before a restart are not remembered: wait out their grace.
    const wait = this.startedAt + this.opts.graceMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (this.running !== null) await this.running.catch(() => undefined);
    if (this.stopping) throw new CrissError('CLOSED', 'the daemon is shutting down');
    this.running = this.collect().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    clearInterval(this.diskTimer);
    await this.running?.catch(() => undefined);
  }

  get collecting(): boolean {
    return this.phase !== 'idle';
  }

  admit(set: WriteSet): void | Promise<void> {
    for (const id of set.fresh ?? []) this.recent.add(id);
    if (this.phase === 'idle') {
      if (set.since !== undefined && set.since < this.store.sweeps) return this.checkStillThere(set);
      return;
    }
    for (const b of set.blocks ?? []) this.fresh.add(b.id);
    for (const b of set.blobs ?? []) this.fresh.add(b.id);
    const needs: Array<{ id: Id; kind: 'node' | 'blob' }> = [...(set.uses ?? [])];
    for (const p of set.pins ?? []) needs.push({ id: p.root, kind: 'node' });
    for (const v of set.vars ?? []) {
      const id = v.value === null ? undefined : idIn(v.value);
      if (id !== undefined) needs.push({ id, kind: 'node' });
    }
    const pending = needs.filter((n) => !this.isSafe(n.id));
    return pending.length === 0 ? undefined : this.secure(pending);
  }

  private isSafe(id: Id): boolean {
    return idEquals(id, EMPTY_NODE.id) || this.marked.has(id) || this.fresh.has(id) || this.roots.has(id);
  }

  /** Marks what a write needs that marking would not reach; refuses the write if it is gone. */
  private async secure(needs: Array<{ id: Id; kind: 'node' | 'blob' }>): Promise<void> {
    for (const n of needs) {
      if (n.kind === 'blob') {
        if (!(await this.store.hasBlob(n.id))) throw expired(n.id);
        this.marked.add(n.id);
      } else {
        await this.mark([n.id], { strict: true });
      }
    }
  }

  /** A sweep ran since the write started: what it builds on must have survived. */
  private async checkStillThere(set: WriteSet): Promise<void> {
    for (const n of set.uses ?? []) {
      if (idEquals(n.id, EMPTY_NODE.id)) continue;
      const there = n.kind === 'blob' ? await this.store.hasBlob(n.id) : await this.store.hasBlock(n.id);
      if (!there) throw expired(n.id);
    }
  }

  private async collect(): Promise<GcReport> {
    const t0 = Date.now();
    const log = this.opts.logger;
    this.marked = new IdSet();
    this.fresh = new IdSet();
    this.roots = new IdSet();
    this.keyframes = new IdSet();
    this.markedBytes = 0;
    const report: GcReport = {
      at: t0, durationMs: 0, roots: 0, markedBlocks: 0, liveBytes: 0, freedBlocks: 0, freedBytes: 0, freedBlobBytes: 0, freedPins: 0, segmentsCompacted: 0, missing: 0,
    };
    // The phase changes between two commit groups: every write from here on is checked.
    const start = await this.store.exclusive(async () => {
      const roots = await this.liveRoots(t0);
      for (const r of roots) this.roots.add(r);
      this.phase = 'mark';
      return roots;
    });
    try {
      report.roots = start.length;
      report.missing = await this.mark(start, { strict: false });
      await this.store.exclusive(async () => {
        this.phase = 'sweep';
        this.store.sweeps++;
      });
      report.markedBlocks = this.marked.size;
      report.liveBytes = this.markedBytes;
      const diskBefore = await this.store.diskBytes();
      const live = await this.sweep(report);
      report.freedPins = await this.sweepPins(t0);
      this.store.sweepsDone = this.store.sweeps;
      await this.store.compactIndex();
      report.segmentsCompacted = await this.compactSegments(live);
      // What the data directory gave back (writes during the collection make this an underestimate).
      report.freedBytes = Math.max(0, diskBefore - (await this.store.diskBytes()));
    } finally {
      await this.store.exclusive(async () => {
        this.phase = 'idle';
      });
      this.marked = new IdSet(1);
      this.fresh = new IdSet(1);
      this.roots = new IdSet(1);
      this.keyframes = new IdSet(1);
    }
    report.durationMs = Date.now() - t0;
    this.runs++;
    this.last = report;
    await this.refreshDisk();
    log.info({ ...report }, 'garbage collection done');
    return report;
  }

  private async liveRoots(now: number): Promise<Id[]> {
    const roots: Id[] = [];
    for await (const p of this.store.pins()) if (p.until > now) roots.push(Buffer.from(p.root));
    for (const id of this.recent.live(now)) roots.push(Buffer.from(id));
    for await (const v of this.store.vars()) {
      const id = idIn(v.value);
      if (id !== undefined) roots.push(id);
    }
    return roots;
  }

  /**
   * Marks everything reachable from `from`, reading blocks straight from the store in batches
   * and yielding between them. A missing child or blob means the store lost part of a tree:
   * strict (a write's needs) throws, otherwise it is counted and logged. A missing link target
   * is normal (links may name trees held only by peers) and is skipped either way.
   */
  private async mark(from: Id[], opts: { strict: boolean }): Promise<number> {
    let missing = 0;
    const stack: Id[] = [];
    /** Parallel to `stack`: whether the block must exist (a child) or may not (a link target). */
    const required: boolean[] = [];
    for (const id of from) {
      stack.push(id);
      required.push(true);
    }
    const push = (id: Id, must: boolean): void => {
      stack.push(id);
      required.push(must);
    };
    while (stack.length > 0) {
      this.checkStopping();
      const batch: Id[] = [];
      const must: boolean[] = [];
      while (batch.length < BATCH && stack.length > 0) {
        const id = stack.pop() as Id;
        const req = required.pop() as boolean;
        if (idEquals(id, EMPTY_NODE.id) || this.marked.has(id)) continue;
        batch.push(id);
        must.push(req);
      }
      if (batch.length === 0) continue;
      const nodes = await this.store.readNodes(batch);
      for (let i = 0; i < batch.length; i++) {
        const id = batch[i];
        const stored = nodes[i];
        if (stored === undefined) {
          if (!must[i]) continue;
          if (opts.strict) throw expired(id);
          missing++;
          continue;
        }
        if (!this.marked.add(id)) continue;
        if (stored.keyframe !== null) this.keyframes.add(stored.keyframe);
        this.markedBytes += stored.bytes.length;
        await this.children(TreeNode.parse(id, stored.bytes), push, opts.strict);
      }
      if (!opts.strict) await yieldToIo();
    }
    if (missing > 0) this.opts.logger.error({ missing }, 'garbage collection: blocks reachable from live roots are not in the store');
    return missing;
  }

  private async children(node: TreeNode, push: (id: Id, must: boolean) => void, strict: boolean): Promise<void> {
    if (node.level > 0) {
      for (let i = 0; i < node.length; i++) push(node.child(i), true);
      return;
    }
    for (let i = 0; i < node.length; i++) {
      const v = node.val(i);
      if (!isRefAt(v, 0)) {
        for (const link of linksIn(v)) push(link, false);
        continue;
      }
      const blob = refId(v);
      if (this.marked.has(blob)) continue;
      this.markedBytes += refLength(v);
      if (!refMayLink(v)) {
        if (strict && !(await this.store.hasBlob(blob))) throw expired(blob);
        this.marked.add(blob);
        continue;
      }
      const bytes = await this.store.getBlob(blob);
      if (bytes === undefined) {
        if (strict) throw expired(blob);
        continue;
      }
      this.marked.add(blob);
      for (const link of linksIn(bytes)) push(Buffer.from(link), false);
    }
  }

  /** Deletes unmarked blocks in batches; returns the live bytes per segment. */
  private async sweep(report: GcReport): Promise<Map<number, number>> {
    const live = new Map<number, number>();
    const isLive = (id: Id): boolean => this.marked.has(id) || this.fresh.has(id) || this.keyframes.has(id);
    for (const kind of ['node', 'blob'] as const) {
      let batch: Array<{ id: Id; bytes: number }> = [];
      const flush = async (): Promise<void> => {
        const candidates = batch;
        batch = [];
        await this.store.exclusive(async () => {
          // Decided here, between commits: a block rewritten since it was read is fresh now.
          const dead = candidates.filter((c) => !isLive(c.id));
          const ids = dead.map((d) => d.id);
          await this.store.remove(kind === 'node' ? { nodes: ids } : { blobs: ids });
          report.freedBlocks += dead.length;
          if (kind === 'blob') for (const d of dead) report.freedBlobBytes += d.bytes;
        });
        await yieldToIo();
      };
      const ids = this.located(kind === 'node' ? this.store.nodeLocations() : this.store.blobLocations(), live, isLive);
      for await (const { id, bytes } of ids) {
        this.checkStopping();
        if (isLive(id)) continue;
        batch.push({ id: Buffer.from(id), bytes });
        if (batch.length >= SWEEP_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
    }
    return live;
  }

  /** Block ids and their bytes in the segments, counting the live bytes of each segment on the way. */
  private async *located(blocks: AsyncIterable<{ id: Id; at: Location | undefined }>, live: Map<number, number>, isLive: (id: Id) => boolean): AsyncGenerator<{ id: Id; bytes: number }> {
    for await (const { id, at } of blocks) {
      if (at === undefined) {
        yield { id, bytes: 0 };
        continue;
      }
      if (isLive(id)) live.set(at.segment, (live.get(at.segment) ?? 0) + at.length);
      yield { id, bytes: at.length };
    }
  }

  /** Drops expired pin records and those a later pin of the same root supersedes. */
  private async sweepPins(now: number): Promise<number> {
    const dead: Array<{ root: Id; until: number }> = [];
    let prev: { root: Id; until: number } | undefined;
    for await (const rec of this.store.pinRecords()) {
      if (prev !== undefined && (idEquals(prev.root, rec.root) || prev.until <= now)) dead.push(prev);
      prev = { root: Buffer.from(rec.root), until: rec.until };
    }
    if (prev !== undefined && prev.until <= now) dead.push(prev);
    for (let i = 0; i < dead.length; i += BATCH) {
      const part = dead.slice(i, i + BATCH);
      await this.store.exclusive(() => this.store.remove({ pins: part }));
    }
    return dead.length;
  }

  /**
   * Rewrites segments that are mostly dead: their live blobs are appended to the active
   * segment, the index is repointed (only where it still points at the old copy), then the
   * old file is unlinked. Segments with nothing live are simply unlinked.
   */
  private async compactSegments(live: Map<number, number>): Promise<number> {
    // Chosen between commits: no write is appending to a target, and sealing the active
    // segment sends every later append elsewhere, so the index scan below sees all it holds.
    const targets = await this.store.exclusive(async () => {
      const chosen = new Set<number>();
      for (const s of this.store.segments.compactable()) {
        if ((live.get(s.segment) ?? 0) >= COMPACT_BELOW * s.size) continue;
        chosen.add(s.segment);
        this.store.segments.seal(s.segment);
      }
      return chosen;
    });
    if (targets.size === 0) return 0;
    let moves: Array<{ id: Id; from: Location; at: Location; kind: BlockKind }> = [];
    const flush = async (): Promise<void> => {
      const batch = moves;
      moves = [];
      await this.store.exclusive(async () => {
        const still = [];
        for (const m of batch) {
          const now = this.store.locate(m.id, m.kind);
          if (now !== undefined && now.segment === m.from.segment && now.offset === m.from.offset) still.push(m);
        }
        await this.store.relocate(still);
      });
      for (const m of batch) this.store.release(m.at);
    };
    for await (const b of this.store.segmentRecords()) {
      this.checkStopping();
      if (!targets.has(b.at.segment)) continue;
      const bytes = await this.store.segments.read(b.at);
      moves.push({ id: Buffer.from(b.id), from: b.at, at: await this.store.appendBlob(Buffer.from(b.id), bytes), kind: b.kind });
      if (moves.length >= MOVE_BATCH) await flush();
    }
    if (moves.length > 0) await flush();
    await this.store.dropSegments(targets);
    return targets.size;
  }

  private checkStopping(): void {
    if (this.stopping) throw new CrissError('CLOSED', 'garbage collection stopped: the daemon is shutting down');
  }

  private async refreshDisk(): Promise<void> {
    this.diskBytes = await this.store.diskBytes().catch(() => this.diskBytes);
  }

  info(): Array<[string, string | number]> {
    const r = this.last;
    return [
      ['store_bytes_on_disk', this.diskBytes],
      ['store_live_blocks', r?.markedBlocks ?? -1],
      ['store_live_bytes', r?.liveBytes ?? -1],
      ['store_pinned_roots', r?.roots ?? -1],
      ['store_grace_roots', this.recent.count],
      ['gc_running', this.phase === 'idle' ? 0 : 1],
      ['gc_phase', this.phase],
      ['gc_runs', this.runs],
      ['gc_last_at_ms', r?.at ?? -1],
      ['gc_last_duration_ms', r?.durationMs ?? -1],
      ['gc_last_freed_blocks', r?.freedBlocks ?? -1],
      ['gc_last_freed_bytes', r?.freedBytes ?? -1],
      ['gc_last_freed_blob_bytes', r?.freedBlobBytes ?? -1],
      ['gc_last_freed_pins', r?.freedPins ?? -1],
      ['gc_last_segments_compacted', r?.segmentsCompacted ?? -1],
      ['gc_grace_ms', this.opts.graceMs],
      ['gc_interval_ms', this.opts.intervalMs],
      ['gc_next_possible_at_ms', this.startedAt + this.opts.graceMs],
    ];
  }
}

function expired(id: Id): CrissError {
  return new CrissError('NOTFOUND', `tree ${idToText(id)} expired and is being collected: write on a live (pinned) root`);
}

/** A variable's value names a root when it is one, as base58 text or raw bytes. */
function idIn(value: Uint8Array): Id | undefined {
  try {
    return parseId(value);
  } catch {
    return undefined;
  }
}
