import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { BlockStore } from './src/store/blockstore.ts';
import { Trees } from './src/tree/index.ts';
import { FileWriter } from './src/tree/file.ts';
const dir = await mkdtemp(join(tmpdir(), 'fw-'));
const store = await BlockStore.open(dir, pino({ level: 'silent' }));
const trees = new Trees(store, store);
const size = 512 * 1024 * 1024;
const data = randomBytes(64 * 1024 * 1024);
for (let r = 0; r < 2; r++) {
  const c0 = process.cpuUsage(); const t0 = performance.now();
  const w = new FileWriter(trees, store);
  for (let o = 0; o < size; o += 1 << 20) { const p = data.subarray(o % data.length, (o % data.length) + (1 << 20)); p[0] = r; p[1] = o >> 20; p[2] = o >> 28; await w.write(p); }
  await w.finish(0);
  const c = process.cpuUsage(c0); const dt = performance.now() - t0;
  console.log('MB/s', (size / 1e6 / (dt / 1000)).toFixed(0), 'process cpu ns/B', (((c.user + c.system) * 1000) / size).toFixed(2));
}
await store.close(); await rm(dir, { recursive: true, force: true });
process.exit(0);
