import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { ByteWriter, writeValue } from '../src/codec/encode.ts';
import { encodeValue } from '../src/codec/index.ts';
import { BlockStore } from '../src/store/blockstore.ts';
import type { Id } from '../src/store/id.ts';
import { MISSING, type Mutation, Trees } from '../src/tree/index.ts';
import type { BenchConfig } from './config.ts';
import { ingestOrder, keyString, pickFrom, valueString } from './data.ts';
import {
  type IngestRun, type Metric, MemoryWatch, type SuiteResult, diskBytes, ingestMetric, ingestNote as baseNote, median, perSecond, percentile,
  processWriteBytes, profiled, type ReadsRun, readsNote, settle, timedIngest, timedReads,
} from './measure.ts';

/**
 * Our engine on a real LevelDB in a temporary directory: every write goes through
 * `trees.write`, so it is encoded, hashed, batched and synced exactly as the daemon's would be.
 */

/** Every write pins its new root, as a client's write with a TTL does (the pin is part of the batch). */
const TTL_MS = 3_600_000;
const logger = pino({ level: 'silent' });

interface Engine {
  dir: string;
  store: BlockStore;
  trees: Trees;
}

async function open(dir: string, cfg: BenchConfig): Promise<Engine> {
  const store = await BlockStore.open(dir, logger);
  const trees = new Trees(store, store, { cacheBytes: cfg.cacheMiB * 1024 * 1024 });
  return { dir, store, trees };
}

/**
 * Every key and value of the workload, encoded once into two flat buffers before any clock
 * starts: the timed loops (and their profiles) then hold only the engine's work, a mutation
 * costs two subarrays, and the whole workload is ~85 MB off the JS heap instead of 2M objects.
 */
class EncodedPairs {
  private readonly keys: Buffer;
  private readonly vals: Buffer;
  private readonly keyEnd: Uint32Array;
  private readonly valEnd: Uint32Array;

  constructor(n: number) {
    // Sized for the longest key and value; pages never written are never resident.
    const kw = new ByteWriter(n * 16);
    const vw = new ByteWriter(n * 102);
    this.keyEnd = new Uint32Array(n);
    this.valEnd = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      writeValue(kw, keyString(i));
      writeValue(vw, valueString(i));
      this.keyEnd[i] = kw.pos;
      this.valEnd[i] = vw.pos;
    }
    this.keys = kw.finish();
    this.vals = vw.finish();
  }

  key(i: number): Buffer {
    return this.keys.subarray(i === 0 ? 0 : this.keyEnd[i - 1], this.keyEnd[i]);
  }

  put(i: number): Mutation {
    return { key: this.key(i), val: this.vals.subarray(i === 0 ? 0 : this.valEnd[i - 1], this.valEnd[i]) };
  }
}

function progress(msg: string): void {
  process.stderr.write(`[tree] ${msg}\n`);
}

/** Writes the pairs in `order`, one durable `trees.write` per batch, one batch at a time. */
function ingest(e: Engine, pairs: EncodedPairs, order: Uint32Array, cfg: BenchConfig, mem: MemoryWatch): Promise<IngestRun<Id>> {
  return timedIngest({
    order, batch: cfg.batch, seconds: cfg.ingestSeconds, initial: e.trees.emptyRoot, progress, mem,
    makeBatch: (indices) => Array.from(indices, (i) => pairs.put(i)),
    step: (root, muts) => e.trees.write(root, muts, TTL_MS),
  });
}

/** Loads every node of the tree (a cold full walk), which is also what makes the reads warm. */
async function warmUp(e: Engine, root: Id): Promise<{ nodes: number; ms: number }> {
  const t0 = performance.now();
  let nodes = 0;
  for await (const _ of e.trees.walk(root)) nodes++;
  return { nodes, ms: performance.now() - t0 };
}

/** Random point reads of ingested keys: `getSync` answers from cache, `get` only on MISSING. */
async function pointReads(e: Engine, pairs: EncodedPairs, rootId: Id, present: Uint32Array, cfg: BenchConfig): Promise<ReadsRun & { fallbacks: number }> {
  const root = await e.trees.root(rootId);
  const picks = pickFrom(present, cfg.reads, cfg.seed + 1);
  let fallbacks = 0;
  const missing = () => new Error('a key written during ingest is missing');
  const run = await timedReads((from, to) => Array.from(picks.subarray(from, to), (i) => pairs.key(i)), picks.length, cfg.readSeconds, (k) => {
    const v = e.trees.getSync(root, k);
    if (v === undefined) throw missing();
    if (v !== MISSING) return;
    fallbacks++;
    return e.trees.get(rootId, k).then((slow) => {
      if (slow === undefined) throw missing();
    });
  });
  return { ...run, fallbacks };
}

/**
 * `writers` concurrent loops, each putting one new key per durable write and carrying its own
 * root forward (every writer's lineage starts at the 1M-key tree). New keys land at random
 * places among the existing ones, so writes touch random leaves, not one hot edge.
 */
interface PutsRun {
  puts: number;
  ms: number;
  syncs: number;
  /** Block bytes the puts stored, the records that took, and bytes the process wrote to disk meanwhile (LevelDB's log and compactions). */
  blockBytes: number;
  recordBytes: number;
  diskBytes: number;
  latencies: Float64Array;
}

/** One new key per put: `key/0000123456.7` sorts right after `key/0000123456`, a random existing key. */
function putMutations(present: Uint32Array, cfg: BenchConfig): Mutation[] {
  const picks = pickFrom(present, cfg.puts, cfg.seed + 3);
  return Array.from(picks, (i, n) => ({ key: encodeValue(`${keyString(i)}.${n}`), val: encodeValue(valueString(n, 2)) }));
}

async function singlePuts(e: Engine, base: Id, muts: Mutation[], cfg: BenchConfig): Promise<PutsRun> {
  const latencies = new Float64Array(muts.length);
  let issued = 0;
  let done = 0;
  const syncs0 = e.store.stats.syncs;
  const blocks0 = e.store.stats.bytesWritten;
  const records0 = e.store.stats.recordBytesWritten;
  const disk0 = processWriteBytes();
  const t0 = performance.now();
  const deadline = t0 + cfg.putSeconds * 1000;
  async function writer(): Promise<void> {
    let root = base;
    while (issued < muts.length && performance.now() < deadline) {
      const mut = muts[issued++];
      const s = performance.now();
      root = await e.trees.write(root, [mut], TTL_MS);
      latencies[done++] = performance.now() - s;
    }
  }
  await Promise.all(Array.from({ length: cfg.writers }, writer));
  return {
    puts: done, ms: performance.now() - t0, syncs: e.store.stats.syncs - syncs0, latencies: latencies.subarray(0, done),
    blockBytes: e.store.stats.bytesWritten - blocks0, recordBytes: e.store.stats.recordBytesWritten - records0, diskBytes: processWriteBytes() - disk0,
  };
}

async function countDiff(e: Engine, a: Id, b: Id): Promise<number> {
  let n = 0;
  for await (const _ of e.trees.diff(a, b)) n++;
  return n;
}

/** Times walking the whole diff iterator between the 1M-key tree and a copy with changed keys. */
async function timeDiffs(e: Engine, a: Id, b: Id, cfg: BenchConfig): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < cfg.diffRuns; r++) {
    const t0 = performance.now();
    const n = await countDiff(e, a, b);
    times.push(performance.now() - t0);
    if (n !== cfg.diffKeys) throw new Error(`diff found ${n} changes, expected ${cfg.diffKeys}`);
  }
  return times;
}

/** The tree with `diffKeys` existing keys given new values. */
function changedCopy(e: Engine, root: Id, present: Uint32Array, cfg: BenchConfig): Promise<Id> {
  const picks = pickFrom(present, cfg.diffKeys, cfg.seed + 2);
  return e.trees.write(root, Array.from(picks, (i) => ({ key: encodeValue(keyString(i)), val: encodeValue(valueString(i, 1)) })), TTL_MS);
}

export async function runTreeSuite(cfg: BenchConfig): Promise<SuiteResult> {
  mkdirSync(cfg.tmpRoot, { recursive: true });
  const tmp = mkdtempSync(join(cfg.tmpRoot, 'tree-'));
  const metrics: Metric[] = [];
  const notes: string[] = [];
  const mem = new MemoryWatch();
  const prof = (phase: string) => cfg.profile.includes(phase);
  const profFile = (phase: string) => join(cfg.tmpRoot, `tree-${phase}.cpuprofile`);
  progress(`encoding ${cfg.keys} pairs`);
  const pairs = new EncodedPairs(cfg.keys);
  try {
    // 1a. Random-order ingest into a store of its own, measured and then dropped.
    progress(`ingesting ${cfg.keys} pairs in random order`);
    let e = await open(join(tmp, 'random'), cfg);
    const written0 = processWriteBytes();
    const random = await profiled(prof('ingest-random'), profFile('ingest-random'),
      () => ingest(e, pairs, ingestOrder(cfg.keys, true, cfg.seed), cfg, mem));
    metrics.push(ingestMetric('ingest.random', random, ingestNote(random, e, cfg)));
    metrics.push({ id: 'bytes.written', value: e.store.stats.bytesWritten / random.done, unit: 'B/pair', note: 'block bytes written by the random ingest' });
    metrics.push({ id: 'bytes.records', value: e.store.stats.recordBytesWritten / random.done, unit: 'B/pair', note: 'what storing them took: whole nodes and deltas (docs/format.md §8.1)' });
    // Nodes live in shared slabs: compare what the cache counts with what ArrayBuffers really hold
    // once garbage is collected.
    await settle();
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    notes.push(`crisscross: after the random ingest the node cache counts ${mib(e.trees.loader.cachedBytes)} (bound ${cfg.cacheMiB} MiB); ArrayBuffers hold ${mib(process.memoryUsage().arrayBuffers)}, ~85 MiB of them the workload`);
    await e.store.close();
    const written = processWriteBytes() - written0;
    metrics.push({ id: 'disk.random', value: diskBytes(e.dir) / random.done, unit: 'B/pair', note: 'LevelDB dir after the random ingest (superseded nodes are not collected)' });
    if (written > 0) {
      const amp = (written / e.store.stats.bytesWritten).toFixed(1);
      metrics.push({ id: 'disk.written.random', value: written / random.done, unit: 'B/pair', note: `bytes the process wrote to disk during the random ingest: ${amp}× the block bytes (LevelDB's log and compactions)` });
    }
    rmSync(e.dir, { recursive: true, force: true });
    await settle();

    // 1b. Key-order ingest; its tree (the same pairs, so the same root) serves every later phase.
    progress(`ingesting ${cfg.keys} pairs in key order`);
    e = await open(join(tmp, 'ordered'), cfg);
    const ordered = await profiled(prof('ingest-ordered'), profFile('ingest-ordered'),
      () => ingest(e, pairs, ingestOrder(cfg.keys, false, cfg.seed), cfg, mem));
    metrics.push(ingestMetric('ingest.ordered', ordered, ingestNote(ordered, e, cfg)));
    if (ordered.done === cfg.keys && random.done === cfg.keys) {
      const same = Buffer.compare(random.state, ordered.state) === 0;
      notes.push(`crisscross: the random-order root ${same ? 'equals' : 'DIFFERS FROM'} the key-order root (history independence)`);
      if (!same) throw new Error('history independence broken: ordered and random ingest gave different roots');
    }
    const root = ordered.state;
    const present = ingestOrder(ordered.done, false, cfg.seed);
    const stats = await e.trees.stats(root);
    metrics.push({ id: 'bytes.live', value: stats.bytes / ordered.done, unit: 'B/pair', note: `blocks reachable from the root (height ${stats.height})` });

    // 4. Diff: the changed copy is made, then the store reopened so the first diff reads from disk.
    progress('diff');
    const changed = await changedCopy(e, root, present, cfg);
    await e.store.close();
    metrics.push({ id: 'disk.ordered', value: diskBytes(e.dir) / ordered.done, unit: 'B/pair', note: 'LevelDB dir after the key-order ingest (and the diff\'s one write)' });
    e = await open(e.dir, cfg);
    const t0 = performance.now();
    await countDiff(e, root, changed);
    metrics.push({ id: 'diff.cold', value: performance.now() - t0, unit: 'ms' });
    const diffTimes = await profiled(prof('diff'), profFile('diff'), () => timeDiffs(e, root, changed, cfg));
    metrics.push({ id: 'diff.warm', value: median(diffTimes), unit: 'ms', note: `median of ${cfg.diffRuns}; min ${Math.min(...diffTimes).toFixed(2)}, max ${Math.max(...diffTimes).toFixed(2)}` });
    mem.sample();

    // 2. Point reads on the warm tree.
    progress('warm-up walk and point reads');
    const walk = await warmUp(e, root);
    metrics.push({ id: 'walk.cold', value: perSecond(walk.nodes, walk.ms), unit: 'nodes/s', note: `${walk.nodes} nodes in ${(walk.ms / 1000).toFixed(2)} s, mostly from disk` });
    const reads = await profiled(prof('reads'), profFile('reads'), () => pointReads(e, pairs, root, present, cfg));
    metrics.push({ id: 'reads', value: reads.rate, unit: 'reads/s', note: `${readsNote(reads)}; ${reads.fallbacks} needed the async path` });
    mem.sample();

    // 3. Durable single-key puts from concurrent writers.
    progress(`single puts, ${cfg.writers} writers`);
    const putMuts = putMutations(present, cfg);
    const puts = await profiled(prof('puts'), profFile('puts'), () => singlePuts(e, root, putMuts, cfg));
    metrics.push({ id: 'puts', value: perSecond(puts.puts, puts.ms), unit: 'puts/s', note: `${puts.puts} puts in ${(puts.ms / 1000).toFixed(2)} s` });
    metrics.push({ id: 'puts.syncs', value: perSecond(puts.syncs, puts.ms), unit: 'syncs/s', note: `${(puts.puts / Math.max(1, puts.syncs)).toFixed(1)} writes per sync` });
    metrics.push({ id: 'puts.bytes', value: puts.blockBytes / puts.puts, unit: 'B/put', note: `block bytes per put; stored as ${(puts.recordBytes / puts.puts).toFixed(0)} B/put of records; the process wrote ${(puts.diskBytes / puts.puts).toFixed(0)} B/put to disk` });
    metrics.push({ id: 'puts.p50', value: percentile(puts.latencies, 0.5), unit: 'ms' });
    metrics.push({ id: 'puts.p99', value: percentile(puts.latencies, 0.99), unit: 'ms' });
    mem.sample();
    await e.store.close();

    metrics.push({ id: 'mem.rss', value: mem.peakRss() / 2 ** 20, unit: 'MiB', note: 'includes the ~85 MB pre-encoded workload and LevelDB\'s own memory' });
    metrics.push({ id: 'mem.heap', value: mem.peakHeap / 2 ** 20, unit: 'MiB', note: `node cache bound ${cfg.cacheMiB} MiB` });
    metrics.push({ id: 'mem.buffers', value: mem.peakBuffers / 2 ** 20, unit: 'MiB', note: 'includes the ~85 MB pre-encoded workload' });
    return { engine: 'crisscross', metrics, notes };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function ingestNote(r: IngestRun<Id>, e: Engine, cfg: BenchConfig): string {
  const mb = (e.store.stats.bytesWritten / 2 ** 20).toFixed(0);
  return `${baseNote(r, cfg.keys, cfg.ingestSeconds)}; ${e.store.stats.syncs} synced batches, ${mb} MiB of blocks written`;
}
