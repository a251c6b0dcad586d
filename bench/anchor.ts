import { join } from 'node:path';
import { BlockMap, DataDiff, MST, MemoryBlockstore } from '@atproto/repo';
import type { BenchConfig } from './config.ts';
import { ingestOrder, keyString, pickFrom, valueString } from './data.ts';
import {
  type IngestRun, type Metric, MemoryWatch, type ReadsRun, type SuiteResult, ingestMetric, ingestNote, median, perSecond, percentile, profiled, readsNote,
  settle, timedIngest, timedReads,
} from './measure.ts';

/**
 * The anchor: @atproto/repo's Merkle Search Tree doing the same work, the way atproto's own
 * commit path does it. An MST leaf holds a CID, so each value is stored as its own block (a
 * record, CBOR-encoded and hashed), the tree is changed with `add`, and after each batch
 * `getUnstoredBlocks` serializes and hashes the changed nodes, which go to the blockstore.
 *
 * Its storage is the package's own MemoryBlockstore: no disk, no fsync, no durability. The
 * MST object is also kept in memory between batches (atproto's Repo reloads it from storage
 * after each commit). Both favour the anchor, so our ratios against it are conservative.
 */

type Cid = Awaited<ReturnType<MST['getPointer']>>;

function progress(msg: string): void {
  process.stderr.write(`[anchor] ${msg}\n`);
}

/** Adds one batch the atproto way and persists the result; returns the new tree. */
async function commitBatch(storage: MemoryBlockstore, mst: MST, pairs: Array<[string, string]>): Promise<MST> {
  const records = new BlockMap();
  for (const [key, value] of pairs) mst = await mst.add(key, await records.add(value));
  const { blocks } = await mst.getUnstoredBlocks();
  await storage.putMany(blocks);
  await storage.putMany(records);
  return mst;
}

/** One batch at a time, like ours; the MemoryBlockstore comes back with the tree. */
async function ingest(order: Uint32Array, cfg: BenchConfig, mem: MemoryWatch): Promise<IngestRun<MST> & { storage: MemoryBlockstore }> {
  const storage = new MemoryBlockstore();
  const run = await timedIngest({
    order, batch: cfg.batch, seconds: cfg.ingestSeconds, initial: await MST.create(storage), progress, mem,
    makeBatch: (indices) => Array.from(indices, (i): [string, string] => [keyString(i), valueString(i)]),
    step: (mst, pairs) => commitBatch(storage, mst, pairs),
  });
  return { ...run, storage };
}

function pointReads(mst: MST, present: Uint32Array, cfg: BenchConfig): Promise<ReadsRun> {
  const picks = pickFrom(present, cfg.reads, cfg.seed + 1);
  return timedReads((from, to) => Array.from(picks.subarray(from, to), keyString), picks.length, cfg.readSeconds, async (k) => {
    if ((await mst.get(k)) === null) throw new Error('a key written during ingest is missing');
  });
}

/** The same writer loops as ours: each carries its own tree forward, one new key per commit. */
async function singlePuts(storage: MemoryBlockstore, base: MST, present: Uint32Array, cfg: BenchConfig): Promise<{ puts: number; ms: number; latencies: Float64Array }> {
  const latencies = new Float64Array(cfg.puts);
  const picks = pickFrom(present, cfg.puts, cfg.seed + 3);
  let issued = 0;
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + cfg.putSeconds * 1000;
  async function writer(): Promise<void> {
    let mst = base;
    while (issued < cfg.puts && performance.now() < deadline) {
      const n = issued++;
      const s = performance.now();
      mst = await commitBatch(storage, mst, [[`${keyString(picks[n])}.${n}`, valueString(n, 2)]]);
      latencies[done++] = performance.now() - s;
    }
  }
  await Promise.all(Array.from({ length: cfg.writers }, writer));
  return { puts: done, ms: performance.now() - t0, latencies: latencies.subarray(0, done) };
}

async function changedCopy(storage: MemoryBlockstore, base: MST, present: Uint32Array, cfg: BenchConfig): Promise<MST> {
  const records = new BlockMap();
  let mst = base;
  for (const i of pickFrom(present, cfg.diffKeys, cfg.seed + 2)) {
    mst = await mst.update(keyString(i), await records.add(valueString(i, 1)));
  }
  const { blocks } = await mst.getUnstoredBlocks();
  await storage.putMany(blocks);
  await storage.putMany(records);
  return mst;
}

async function timeDiff(a: MST, b: MST, cfg: BenchConfig): Promise<number> {
  const t0 = performance.now();
  const d = await DataDiff.of(b, a);
  const ms = performance.now() - t0;
  if (d.updateList().length !== cfg.diffKeys) throw new Error(`anchor diff found ${d.updateList().length} updates, expected ${cfg.diffKeys}`);
  return ms;
}

export async function runAnchorSuite(cfg: BenchConfig): Promise<SuiteResult> {
  const metrics: Metric[] = [];
  const notes: string[] = [];
  const mem = new MemoryWatch();
  const prof = (phase: string) => cfg.profile.includes(phase);
  const profFile = (phase: string) => join(cfg.tmpRoot, `anchor-${phase}.cpuprofile`);

  // The same sequence as ours: a random-order ingest measured and dropped, then a key-order
  // ingest whose tree serves every later phase.
  progress(`ingesting ${cfg.keys} pairs in random order`);
  const random = await profiled(prof('ingest-random'), profFile('ingest-random'),
    () => ingest(ingestOrder(cfg.keys, true, cfg.seed), cfg, mem));
  metrics.push(ingestMetric('ingest.random', random, ingestNote(random, cfg.keys, cfg.ingestSeconds)));
  metrics.push({ id: 'bytes.written', value: (await random.storage.sizeInBytes()) / random.done, unit: 'B/pair', note: 'bytes in its MemoryBlockstore after the random ingest' });
  const randomRoot: Cid = await random.state.getPointer();
  await random.storage.destroy();
  await settle();

  progress(`ingesting ${cfg.keys} pairs in key order`);
  const ordered = await profiled(prof('ingest-ordered'), profFile('ingest-ordered'),
    () => ingest(ingestOrder(cfg.keys, false, cfg.seed), cfg, mem));
  metrics.push(ingestMetric('ingest.ordered', ordered, ingestNote(ordered, cfg.keys, cfg.ingestSeconds)));
  metrics.push({ id: 'bytes.written.ordered', value: (await ordered.storage.sizeInBytes()) / ordered.done, unit: 'B/pair', note: 'bytes in its MemoryBlockstore after the key-order ingest' });
  const rootA = await ordered.state.getPointer();
  if (ordered.done === cfg.keys && random.done === cfg.keys) {
    notes.push(`anchor: the random-order root ${rootA.equals(randomRoot) ? 'equals' : 'DIFFERS FROM'} the key-order root`);
  }
  const present = ingestOrder(ordered.done, false, cfg.seed);
  const { storage, state: mst } = ordered;

  progress('diff');
  const changed = await changedCopy(storage, mst, present, cfg);
  const rootB = await changed.getPointer();
  // "Cold" for the anchor: fresh MST objects parse every node they need from its blockstore.
  metrics.push({ id: 'diff.cold', value: await timeDiff(MST.load(storage, rootA), MST.load(storage, rootB), cfg), unit: 'ms' });
  const diffTimes = await profiled(prof('diff'), profFile('diff'), async () => {
    const times: number[] = [];
    for (let r = 0; r < cfg.diffRuns; r++) times.push(await timeDiff(mst, changed, cfg));
    return times;
  });
  metrics.push({ id: 'diff.warm', value: median(diffTimes), unit: 'ms', note: `median of ${cfg.diffRuns}` });
  mem.sample();

  progress('point reads');
  const reads = await profiled(prof('reads'), profFile('reads'), () => pointReads(mst, present, cfg));
  metrics.push({ id: 'reads', value: reads.rate, unit: 'reads/s', note: readsNote(reads) });
  mem.sample();

  progress(`single puts, ${cfg.writers} writers`);
  const stored0 = await storage.sizeInBytes();
  const puts = await profiled(prof('puts'), profFile('puts'), () => singlePuts(storage, mst, present, cfg));
  metrics.push({ id: 'puts.bytes', value: ((await storage.sizeInBytes()) - stored0) / puts.puts, unit: 'B/put', note: 'bytes added to its MemoryBlockstore per put' });
  metrics.push({ id: 'puts', value: perSecond(puts.puts, puts.ms), unit: 'puts/s', note: `${puts.puts} puts in ${(puts.ms / 1000).toFixed(2)} s, none synced` });
  metrics.push({ id: 'puts.p50', value: percentile(puts.latencies, 0.5), unit: 'ms' });
  metrics.push({ id: 'puts.p99', value: percentile(puts.latencies, 0.99), unit: 'ms' });
  mem.sample();

  metrics.push({ id: 'mem.rss', value: mem.peakRss() / 2 ** 20, unit: 'MiB', note: 'includes its in-memory blockstore' });
  metrics.push({ id: 'mem.heap', value: mem.peakHeap / 2 ** 20, unit: 'MiB' });
  metrics.push({ id: 'mem.buffers', value: mem.peakBuffers / 2 ** 20, unit: 'MiB' });
  return { engine: '@atproto/repo MST', metrics, notes };
}
