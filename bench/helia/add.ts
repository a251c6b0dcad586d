import { closeSync, createReadStream, fdatasyncSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { unixfs } from '@helia/unixfs';
import { FsBlockstore } from 'blockstore-fs';
import { MemoryDatastore } from 'datastore-core';
import { createHeliaLight } from 'helia';
import { prng } from '../../test/helpers/prng.ts';

/**
 * `node bench/helia/add.ts STORE [--reads N] FILE [FILE ...]`: adds each file, in order, to one
 * Helia node whose blockstore is blockstore-fs in STORE, with @helia/unixfs's default importer
 * settings (its default chunker), and prints one JSON line per file. With `--reads N`, it then
 * `cat`s the whole file and times N random 1 MiB byte ranges (`cat` with offset and length),
 * the peer of the daemon's FILEREAD figures.
 *
 * `createHeliaLight` with no routers, no block brokers and no libp2p: the node has no network
 * at all, so the figure is the importer and the blockstore, nothing that reaches out.
 *
 * blockstore-fs never fsyncs (each block is a temp file renamed into place). So that the
 * figure can also be set against a store that is durable when it answers, `syncMs` is the time
 * to fdatasync every block file afterwards; `ms` is the add alone.
 */

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { reads: { type: 'string', default: '0' }, seed: { type: 'string', default: '42' }, 'read-seconds': { type: 'string', default: '20' } },
});
const [store, ...files] = positionals;
if (store === undefined || files.length === 0) {
  process.stderr.write('usage: node bench/helia/add.ts STORE [--reads N] FILE [FILE ...]\n');
  process.exit(2);
}
const RANGE = 1 << 20;

function blockFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...blockFiles(path));
    else out.push(path);
  }
  return out;
}

/** Allocated bytes, as `du` counts them, and the blocks' own bytes. */
function storeSize(paths: string[]): { allocated: number; logical: number } {
  let allocated = 0;
  let logical = 0;
  for (const p of paths) {
    const st = statSync(p);
    allocated += st.blocks * 512;
    logical += st.size;
  }
  return { allocated, logical };
}

function percentile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Files already synced are skipped, so a second add pays only for its own new blocks. */
const synced = new Set<string>();

function syncNewBlocks(dir: string): number {
  let n = 0;
  for (const path of blockFiles(dir)) {
    if (synced.has(path)) continue;
    const fd = openSync(path, 'r');
    fdatasyncSync(fd);
    closeSync(fd);
    synced.add(path);
    n++;
  }
  return n;
}

const blockstore = new FsBlockstore(store);
await blockstore.open();
const helia = createHeliaLight({ blockstore, datastore: new MemoryDatastore() });
await helia.start();
const fs = unixfs(helia);

async function catBytes(cid: Parameters<typeof fs.cat>[0], options: { offset?: number; length?: number } = {}): Promise<number> {
  let n = 0;
  for await (const chunk of fs.cat(cid, options)) n += chunk.length;
  return n;
}

/** Whole-file cat, then random 1 MiB ranges one at a time (bounded by count and time). */
async function reads(cid: Parameters<typeof fs.cat>[0], size: number, count: number): Promise<object> {
  const t0 = performance.now();
  const got = await catBytes(cid);
  const catMs = performance.now() - t0;
  if (got !== size) throw new Error(`cat gave ${got} bytes of ${size}`);
  const rnd = prng(Number(values.seed));
  const latencies: number[] = [];
  const deadline = performance.now() + Number(values['read-seconds']) * 1000;
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const offset = Math.floor(rnd() * Math.max(1, size - RANGE));
    const s = performance.now();
    const n = await catBytes(cid, { offset, length: RANGE });
    latencies.push(performance.now() - s);
    if (n !== Math.min(RANGE, size - offset)) throw new Error(`range read gave ${n} bytes`);
  }
  return { catMs, rangeReads: latencies.length, rangeP50: percentile(latencies, 0.5), rangeP99: percentile(latencies, 0.99) };
}

for (const file of files) {
  const t0 = performance.now();
  const cid = await fs.addByteStream(createReadStream(file, { highWaterMark: 1 << 20 }));
  const ms = performance.now() - t0;
  const t1 = performance.now();
  const syncedBlocks = syncNewBlocks(store);
  const syncMs = performance.now() - t1;
  const paths = blockFiles(store);
  const { allocated, logical } = storeSize(paths);
  const bytes = statSync(file).size;
  const addRss = process.resourceUsage().maxRSS * 1024;
  const readFigures = Number(values.reads) > 0 ? await reads(cid, bytes, Number(values.reads)) : {};
  process.stdout.write(`${JSON.stringify({
    file, cid: cid.toString(), bytes, ms, syncMs, syncedBlocks, blocks: paths.length, storeBytes: allocated, storeLogical: logical,
    addRss, rss: process.resourceUsage().maxRSS * 1024, ...readFigures,
  })}\n`);
}
await helia.stop();
