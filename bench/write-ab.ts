import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import type { BlockStore } from '../src/store/blockstore.ts';
import type { Id } from '../src/store/id.ts';
import type { Trees } from '../src/tree/index.ts';

/**
 * `AB_OTHER=<checkout> node bench/write-ab.ts`: the durable write path of this checkout against
 * another one's, in one process, in alternating blocks, so that both see the same machine (on
 * shared CPUs two runs minutes apart differ by more than most changes). Each side builds its own
 * AB_KEYS-key store; then AB_BLOCKS blocks of AB_PUTS operations alternate between the two:
 * AB_MODE=puts (single-key puts by 50 writers on one base, as bench/write-path.ts) or
 * AB_MODE=ingest (batches of 1,000 randomly placed pairs chained on one root, as the tree
 * suite's random ingest). Prints CPU per operation on the main thread (the only thread whose
 * time is the side's own: LevelDB's threads serve both) and the record bytes each side stored.
 */
const other = process.env.AB_OTHER;
if (other === undefined) throw new Error('AB_OTHER must name the checkout to compare with (its src/ is imported)');
const keys = Number(process.env.AB_KEYS ?? 1_000_000);
const blocks = Number(process.env.AB_BLOCKS ?? 10);
const perBlock = Number(process.env.AB_PUTS ?? 3000);
const mode = process.env.AB_MODE ?? 'puts';
const writers = 50;
const logger = pino({ level: 'silent' });

interface Side {
  name: string;
  dir: string;
  store: BlockStore;
  trees: Trees;
  encodeValue: (v: string) => Uint8Array;
  root: Id;
  main: number;
  ops: number;
}

async function open(name: string, src: string): Promise<Side> {
  const { BlockStore: Store } = (await import(join(src, 'store/blockstore.ts'))) as typeof import('../src/store/blockstore.ts');
  const { Trees: T } = (await import(join(src, 'tree/index.ts'))) as typeof import('../src/tree/index.ts');
  const { encodeValue } = (await import(join(src, 'codec/index.ts'))) as typeof import('../src/codec/index.ts');
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), `crisscross-write-ab-${name}-`));
  const store = await Store.open(dir, logger);
  const trees = new T(store, store);
  let root = trees.emptyRoot;
  for (let from = 0; from < keys; from += 10_000) {
    const muts = [];
    for (let i = from; i < Math.min(keys, from + 10_000); i++) muts.push({ key: encodeValue(`key:${String(i).padStart(12, '0')}`), val: encodeValue('x'.repeat(32)) });
    root = await trees.write(root, muts, -1);
  }
  return { name, dir, store, trees, encodeValue, root, main: 0, ops: 0 };
}

async function block(s: Side): Promise<void> {
  const key = (i: number): Uint8Array => s.encodeValue(`key:${String(i).padStart(12, '0')}`);
  const t0 = process.threadCpuUsage();
  if (mode === 'puts') {
    let issued = 0;
    await Promise.all(Array.from({ length: writers }, async () => {
      while (issued < perBlock) {
        issued++;
        await s.trees.write(s.root, [{ key: key(Math.floor(Math.random() * keys)), val: s.encodeValue(`v${Math.random()}`.padEnd(32, 'x')) }], 60_000);
      }
    }));
  } else {
    for (let done = 0; done < perBlock; done += 1000) {
      const muts = Array.from({ length: 1000 }, () => ({ key: key(Math.floor(Math.random() * 4_000_000_000)), val: s.encodeValue('y'.repeat(32)) }));
      s.root = await s.trees.write(s.root, muts, -1);
    }
  }
  const t = process.threadCpuUsage(t0);
  s.main += t.user + t.system;
  s.ops += perBlock;
}

const sides = [await open('this', resolve('src')), await open('other', resolve(other, 'src'))];
const before = sides.map((s) => s.store.stats.recordBytesWritten);
try {
  for (let b = 0; b < blocks; b++) for (const s of b % 2 === 0 ? sides : [...sides].reverse()) await block(s);
  sides.forEach((s, i) => {
    const unit = mode === 'puts' ? 'put' : 'pair';
    console.log(`${s.name} (${s.name === 'this' ? process.cwd() : other}): ${s.ops} ${unit}s, ${Math.round(s.main / s.ops)} µs main-thread CPU per ${unit}, ${Math.round((s.store.stats.recordBytesWritten - before[i]) / s.ops)} B of records per ${unit}`);
  });
} finally {
  for (const s of sides) {
    await s.store.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
}
