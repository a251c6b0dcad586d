import { createReadStream, openSync, fdatasyncSync, closeSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { unixfs } from '@helia/unixfs';
import { FsBlockstore } from 'blockstore-fs';
import { MemoryDatastore } from 'datastore-core';
import { createHeliaLight } from 'helia';

/**
 * `node bench/helia/add.ts STORE FILE [FILE ...]`: adds each file, in order, to one Helia node
 * whose blockstore is blockstore-fs in STORE, with @helia/unixfs's default importer settings
 * (its default chunker), and prints one JSON line per file.
 *
 * `createHeliaLight` with no routers, no block brokers and no libp2p: the node has no network
 * at all, so the figure is the importer and the blockstore, nothing that reaches out.
 *
 * blockstore-fs never fsyncs (each block is a temp file renamed into place). So that the
 * figure can also be set against a store that is durable when it answers, `syncMs` is the time
 * to fdatasync every block file afterwards; `ms` is the add alone.
 */

const [store, ...files] = process.argv.slice(2);
if (store === undefined || files.length === 0) {
  process.stderr.write('usage: node bench/helia/add.ts STORE FILE [FILE ...]\n');
  process.exit(2);
}

function blockFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...blockFiles(path));
    else out.push(path);
  }
  return out;
}

/** Allocated bytes, as `du` counts them. */
function diskBytes(paths: string[]): number {
  let total = 0;
  for (const p of paths) total += statSync(p).blocks * 512;
  return total;
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

for (const file of files) {
  const t0 = performance.now();
  const cid = await fs.addByteStream(createReadStream(file, { highWaterMark: 1 << 20 }));
  const ms = performance.now() - t0;
  const t1 = performance.now();
  const syncedBlocks = syncNewBlocks(store);
  const syncMs = performance.now() - t1;
  const paths = blockFiles(store);
  process.stdout.write(`${JSON.stringify({
    file, cid: cid.toString(), bytes: statSync(file).size, ms, syncMs, syncedBlocks, blocks: paths.length, storeBytes: diskBytes(paths),
    rss: process.resourceUsage().maxRSS * 1024,
  })}\n`);
}
await helia.stop();
