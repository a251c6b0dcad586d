import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { encodeValue } from '../src/codec/index.ts';
import { BlockStore } from '../src/store/blockstore.ts';
import { Trees } from '../src/tree/index.ts';
import { profiled } from './measure.ts';

/**
 * `node bench/ingest-path.ts`: how the cost of a random-key ingest grows with the tree, in
 * process. INGEST_KEYS keys in a shuffled order (seeded), 1,000 per durable write, each write on
 * the last one's root, as `npm run bench`'s random ingest does. Every 100k pairs: pairs/s, the
 * main thread's CPU a pair, the node cache's misses (nodes read back from disk), RSS and
 * ArrayBuffer memory. At the end, the tree's node count and mean leaf size.
 * INGEST_PROFILE=<file> profiles the pairs from INGEST_PROFILE_FROM on (bench/profile-summary.ts).
 */
const keys = Number(process.env.INGEST_KEYS ?? 1_000_000);
const batch = 1000;
const profile = process.env.INGEST_PROFILE;
const profileFrom = Number(process.env.INGEST_PROFILE_FROM ?? Math.floor((keys * 0.7) / batch) * batch);

const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'crisscross-ingest-path-'));
const store = await BlockStore.open(dir, pino({ level: 'silent' }));
const trees = new Trees(store, store);
const mib = (b: number): number => Math.round(b / 2 ** 20);

const order = Uint32Array.from({ length: keys }, (_, i) => i);
let seed = 42;
const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
for (let i = keys - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
const writeBatch = (root: Uint8Array, from: number): Promise<Uint8Array> => {
  const muts = [];
  for (let i = from; i < Math.min(keys, from + batch); i++) muts.push({ key: encodeValue(`key:${String(order[i]).padStart(12, '0')}`), val: encodeValue('v'.repeat(32)) });
  return trees.write(root, muts, -1);
};

try {
  let root = trees.emptyRoot;
  const t0 = performance.now();
  let t = t0;
  let cpu = process.threadCpuUsage();
  let misses = trees.loader.misses;
  const report = (done: number, pairs: number): void => {
    const now = performance.now();
    const c = process.threadCpuUsage(cpu);
    const m = process.memoryUsage();
    console.log(`${done}: ${Math.round(pairs / ((now - t) / 1000))} pairs/s, main thread ${((c.user + c.system) / pairs).toFixed(1)} µs a pair, ${trees.loader.misses - misses} nodes read back, RSS ${mib(m.rss)} MiB, ArrayBuffers ${mib(m.arrayBuffers)} MiB`);
    t = now;
    cpu = process.threadCpuUsage();
    misses = trees.loader.misses;
  };
  const run = async (from: number, to: number): Promise<void> => {
    for (let at = from; at < to; at += batch) {
      root = await writeBatch(root, at);
      const done = Math.min(keys, at + batch);
      if (done % 100_000 === 0 || done === keys) report(done, done % 100_000 === 0 ? 100_000 : done % 100_000);
    }
  };
  const split = profile === undefined ? keys : Math.min(keys, profileFrom);
  await run(0, split);
  await profiled(profile !== undefined, profile ?? '', () => run(split, keys));
  let nodes = 0;
  let leaves = 0;
  let leafBytes = 0;
  for await (const node of trees.walk(root)) {
    nodes++;
    if (node.level === 0) {
      leaves++;
      leafBytes += node.bytes.length;
    }
  }
  console.log(`${keys} pairs at ${Math.round(keys / ((performance.now() - t0) / 1000))} pairs/s; ${nodes} nodes, ${leaves} leaves of ${Math.round(leafBytes / leaves)} B on average; node cache ${mib(trees.loader.cachedBytes)} MiB`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
