import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { encodeValue } from '../src/codec/index.ts';
import { Collector } from '../src/gc/collector.ts';
import { BlockStore } from '../src/store/blockstore.ts';
import { Trees } from '../src/tree/index.ts';
import { profiled } from './measure.ts';

/**
 * `node bench/write-path.ts`: what a durable single-key put costs in bytes and CPU, in process.
 * Builds a WRITE_KEYS-key tree (keys as redis-benchmark's `key:__rand_int__`), then WRITE_PUTS
 * puts of a new value at a random key by WRITE_WRITERS concurrent writers, each on the base tree
 * (like `PUTMULTIBIN <root> …` from many clients) or, with WRITE_CHAIN=1, each on its own last
 * root. Prints puts/s, CPU per put (all threads, and the main thread's share), and node bytes against record bytes per put
 * (docs/format.md §8.1). WRITE_PROFILE=<file> profiles the puts alone (bench/profile-summary.ts).
 */
const keys = Number(process.env.WRITE_KEYS ?? 1_000_000);
const puts = Number(process.env.WRITE_PUTS ?? 20_000);
const writers = Number(process.env.WRITE_WRITERS ?? 50);
const chain = process.env.WRITE_CHAIN === '1';
const profile = process.env.WRITE_PROFILE;

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'crisscross-write-path-'));
const store = await BlockStore.open(dir, logger);
const gc = new Collector(store, { graceMs: 60_000, intervalMs: 0, logger });
const trees = new Trees(store, store);
const key = (i: number): Uint8Array => encodeValue(`key:${String(i).padStart(12, '0')}`);
try {
  let base = trees.emptyRoot;
  for (let from = 0; from < keys; from += 10_000) {
    const muts = [];
    for (let i = from; i < Math.min(keys, from + 10_000); i++) muts.push({ key: key(i), val: encodeValue('x'.repeat(32)) });
    base = await trees.write(base, muts, -1);
  }
  const before = { ...store.stats };
  let issued = 0;
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const t0 = performance.now();
  await profiled(profile !== undefined, profile ?? '', () => Promise.all(Array.from({ length: writers }, async () => {
    let mine = base;
    while (issued < puts) {
      issued++;
      const put = { key: key(Math.floor(Math.random() * keys)), val: encodeValue(`v${Math.random()}`.padEnd(32, 'x')) };
      mine = await trees.write(chain ? mine : base, [put], 60_000);
    }
  })));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  const per = (k: keyof typeof before): number => Math.round((store.stats[k] - before[k]) / puts);
  console.log(`${keys} keys, ${puts} puts by ${writers} writers ${chain ? 'each on its own last root' : 'on one base'}:`);
  console.log(`  ${Math.round(puts / seconds)} puts/s, ${Math.round((cpu.user + cpu.system) / puts)} µs CPU per put (${Math.round((main.user + main.system) / puts)} µs on the main thread), ${(puts / (store.stats.syncs - before.syncs)).toFixed(1)} puts per sync`);
  console.log(`  node bytes ${per('bytesWritten')} B/put, stored as ${per('recordBytesWritten')} B/put of records`);
} finally {
  await gc.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
