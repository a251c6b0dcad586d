/**
 * `node bench/clusters.ts [--size 1G] [--keys 1000000] [--runs 3] [--only clone,keys,reads,lookup,memory]`:
 * the cluster link between real daemons on 127.0.0.1 (child processes, one cluster), each
 * figure set against a peer measured in the same run (issue 7, "Performance"):
 *  - clone: a file of --size random bytes uploaded to A (FILEBEGIN/FILEWRITE/FILEEND), announced,
 *    cloned by a fresh B with `REMOTE c 1 PERSIST`; against the bare cluster link (bench/bare-link.ts)
 *    moving the same bytes right before and right after the clone (their mean), CPU seconds per GB
 *    of each side, and Helia's bitswap fetch (pins.add) of the same file
 *    between two Helia processes on loopback (bench/helia/bitswap.ts);
 *  - keys: a tree of --keys small values (bench/data.ts) on A, cloned by a fresh B: keys/s, and
 *    the bare link moving the same bytes;
 *  - reads: `REMOTE c 1 FETCHBIN` of a random key of that tree by a daemon with an empty data dir
 *    (a new one per sample, so every sample is a first read), latency and blocks fetched
 *    (INFO cluster blocks_fetched); then --warm-reads reads in one session;
 *  - lookup: provide → findProviders between members of a --nodes in-process cluster;
 *  - memory: a daemon's RSS with 0, 1, 5 and 20 clusters configured.
 * Each part runs --runs times (medians in the summary), with the 1-minute load average, since
 * the machine may be shared. Temp dirs (under the OS temp dir) are removed at exit.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statfsSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { rootCid } from '../src/net/announce.ts';
import { type Cluster, newCluster, renderCluster } from '../src/net/cluster-file.ts';
import { newSecret } from '../src/net/identity.ts';
import { ClusterNode } from '../src/net/node.ts';
import { idOf } from '../src/store/id.ts';
import { bareLink } from './bare-link.ts';
import { keyString, prng, valueString } from './data.ts';
import { cpuOf, median, percentile } from './measure.ts';
import { type Daemon, NODE, ROOT, startDaemon } from './serve.ts';

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    keys: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    only: { type: 'string', default: 'clone,keys,reads,lookup,memory' },
    'cold-reads': { type: 'string', default: '20' },
    'warm-reads': { type: 'string', default: '200' },
    nodes: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '50' },
    seed: { type: 'string', default: '42' },
  },
});
const sized = /^(\d+)([KMG])$/i.exec(opt.size);
if (sized === null) throw new Error(`--size takes e.g. 256M or 1G, got '${opt.size}'`);
const size = Number(sized[1]) * 1024 ** (' KMG'.indexOf(sized[2].toUpperCase()));
const cfg = {
  size, keys: Number(opt.keys), runs: Number(opt.runs), parts: new Set(opt.only.split(',')),
  coldReads: Number(opt['cold-reads']), warmReads: Number(opt['warm-reads']), nodes: Number(opt.nodes), rounds: Number(opt.rounds), seed: Number(opt.seed),
};
const HELIA = join(ROOT, 'bench/helia');
const quiet = pino({ level: 'silent' });
const load1 = (): number => Number(loadavg()[0].toFixed(1));
const r2 = (x: number): number => Number(x.toFixed(2));
const say = (s: string): void => void process.stderr.write(`${s}\n`);
const temps: string[] = [];

async function temp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `crisscross-clusters-${prefix}-`));
  temps.push(d);
  return d;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, rounds = 300): Promise<T> {
  for (let i = 0; i < rounds; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A daemon that is a member of the cluster (optionally bootstrapping from `bootstrap`), with its client. */
interface Member {
  d: Daemon;
  r: Redis;
  dir: string;
  listen: string;
}

async function clusterLine(r: Redis, name: string): Promise<Record<string, string> | undefined> {
  const line = String(await r.call('INFO', 'cluster')).split('\r\n').find((l) => l.startsWith(`${name}:`));
  return line === undefined ? undefined : Object.fromEntries(line.slice(name.length + 1).split(',').map((kv) => kv.split('=') as [string, string]));
}

async function member(cluster: Cluster, bootstrap: string[], dir?: string): Promise<Member> {
  const at = dir ?? (await temp('d'));
  await mkdir(join(at, 'clusters'), { recursive: true });
  await writeFile(join(at, 'clusters', 'c.yaml'), renderCluster({ ...cluster, bootstrap }));
  const d = await startDaemon(at);
  const r = new Redis({ port: d.port, host: '127.0.0.1' });
  const info = await until(async () => {
    const i = await clusterLine(r, cluster.name);
    return i !== undefined && i.listen !== '' && (bootstrap.length === 0 || Number(i.peers) > 0) ? i : undefined;
  }, 'the cluster node');
  return { d, r, dir: at, listen: info.listen.split('|')[0] };
}

async function leave(m: Member, remove = true): Promise<void> {
  m.r.disconnect();
  await m.d.close();
  if (remove) await rm(m.dir, { recursive: true, force: true });
}

/** A /proc/PID/status figure in bytes (VmRSS, VmHWM: the peak). */
function statusField(pid: number, field: string): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

function randomFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let off = 0; off < bytes; off += buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, bytes - off));
  closeSync(fd);
}

/** The clone of `root` by a fresh member; wall ms and the PERSIST reply. */
async function cloneOnce(cluster: Cluster, provider: Member, root: string): Promise<{ ms: number; blocks: number; fetched: number; bytes: number; peakMiB: number; cpu: { provider: number; cloner: number } }> {
  const b = await member(cluster, [provider.listen]);
  try {
    // The provider record must be findable before the clock starts: a one-key read proves it.
    await until(async () => ((await b.r.call('REMOTENOLOCAL', cluster.name, '1', 'BYTESWRITTEN', root)) === null ? undefined : true), 'the provider record');
    const t0 = performance.now();
    const before = [cpuOf(provider.d.pid), cpuOf(b.d.pid)];
    const reply = (await b.r.call('REMOTE', cluster.name, '1', 'PERSIST', root, '-1')) as Array<string | number>;
    const cpu = { provider: cpuOf(provider.d.pid) - before[0], cloner: cpuOf(b.d.pid) - before[1] };
    const ms = performance.now() - t0;
    const f: Record<string, number> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) f[String(reply[i])] = Number(reply[i + 1]);
    return { ms, blocks: f.blocks, fetched: f.fetched, bytes: f.bytes, peakMiB: Math.round(statusField(b.d.pid, 'VmHWM') / 2 ** 20), cpu };
  } finally {
    await leave(b);
  }
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
}

async function heliaServe(store: string, file: string): Promise<{ child: ChildProcess; addr: string; cid: string }> {
  const child = spawn(NODE, [join(HELIA, 'bitswap.ts'), 'serve', store, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`helia serve exited with ${c}`)));
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  return { child, ...(JSON.parse(line) as { addr: string; cid: string }) };
}

async function partClone(cluster: Cluster, out: Record<string, unknown>): Promise<void> {
  const dir = await temp('clone');
  const file = join(dir, 'data');
  randomFile(file, cfg.size);
  const a = await member(cluster, []);
  const t0 = performance.now();
  const root = run(NODE, [join(ROOT, 'bench/file-client.ts'), 'upload', file, '-p', String(a.d.port)]).trim();
  say(`clone: uploaded ${opt.size} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await a.r.call('ANNOUNCE', cluster.name, root, '-1');
  const helia = await heliaServe(join(dir, 'helia-a'), file);
  const runs: object[] = [];
  try {
    for (let i = 0; i < cfg.runs; i++) {
      const load = load1();
      // The bare link right before and right after the clone: on a shared machine the load
      // changes within seconds, and the mean of the two brackets what the clone met.
      const [bareBefore, bareCpuBefore] = await bareLink(cluster, cfg.size);
      const c = await cloneOnce(cluster, a, root);
      const cloneMBs = c.bytes / 1e6 / (c.ms / 1000);
      const [bareAfter, bareCpuAfter] = await bareLink(cluster, c.bytes);
      const bareMBs = (bareBefore + bareAfter) / 2;
      const gb = c.bytes / 1e9;
      const store = join(dir, `helia-b${i}`);
      const h = JSON.parse(run(NODE, [join(HELIA, 'bitswap.ts'), 'fetch', store, helia.addr, helia.cid])) as { ms: number; blocks: number };
      await rm(store, { recursive: true, force: true });
      const heliaMBs = cfg.size / 1e6 / (h.ms / 1000);
      const row = { load1: load, cloneMBs: Math.round(cloneMBs), cloneBlocks: c.fetched, cloneBytes: c.bytes, clonePeakMiB: c.peakMiB, bareLinkMBs: Math.round(bareMBs), bareBeforeMBs: Math.round(bareBefore), bareAfterMBs: Math.round(bareAfter), heliaMBs: r2(heliaMBs), heliaBlocks: h.blocks, vsBare: r2(cloneMBs / bareMBs), vsHelia: r2(cloneMBs / heliaMBs),
        cpuPerGB: { provider: r2(c.cpu.provider / gb), cloner: r2(c.cpu.cloner / gb), bareLink: r2((bareCpuBefore + bareCpuAfter) / 2) } };
      say(`clone run ${i + 1}: ${JSON.stringify(row)}`);
      runs.push(row);
    }
  } finally {
    helia.child.stdin?.end();
    await leave(a);
    await rm(dir, { recursive: true, force: true });
  }
  out.clone = { size: opt.size, runs, median: medians(runs, ['cloneMBs', 'bareLinkMBs', 'heliaMBs', 'vsBare', 'vsHelia']) };
}

function medians(rows: object[], fields: string[]): Record<string, number> {
  return Object.fromEntries(fields.map((f) => [f, r2(median(rows.map((r) => (r as Record<string, number>)[f])))]));
}

/** PUTMULTIBIN in key order, 1,000 pairs a command, intermediate roots unpinned; the root, pinned. */
async function ingest(r: Redis, keys: number): Promise<string> {
  let root = '';
  for (let from = 0; from < keys; from += 1000) {
    const args: string[] = [root, '0'];
    for (let i = from; i < Math.min(keys, from + 1000); i++) args.push(keyString(i), valueString(i));
    root = ((await r.callBuffer('PUTMULTIBIN', ...args)) as Buffer).toString();
  }
  await r.call('PERSIST', root, '-1');
  return root;
}

async function partKeys(cluster: Cluster, out: Record<string, unknown>): Promise<void> {
  const a = await member(cluster, []);
  try {
    const t0 = performance.now();
    const root = await ingest(a.r, cfg.keys);
    say(`keys: ingested ${cfg.keys} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = performance.now();
    await a.r.call('ANNOUNCE', cluster.name, root, '-1');
    // Walks everything the root reaches (what it serves), then provides the root on the DHT.
    const announceMs = Math.round(performance.now() - t1);
    say(`keys: ANNOUNCE of the ${cfg.keys}-key tree took ${announceMs} ms`);
    if (cfg.parts.has('keys')) {
      const runs: object[] = [];
      for (let i = 0; i < cfg.runs; i++) {
        const load = load1();
        const c = await cloneOnce(cluster, a, root);
        const cloneMBs = c.bytes / 1e6 / (c.ms / 1000);
        const [bareMBs] = await bareLink(cluster, c.bytes);
        const row = { load1: load, keysPerSec: Math.round(cfg.keys / (c.ms / 1000)), cloneMs: Math.round(c.ms), cloneBlocks: c.fetched, cloneBytes: c.bytes, clonePeakMiB: c.peakMiB, cloneMBs: r2(cloneMBs), bareLinkMBs: Math.round(bareMBs), vsBare: r2(cloneMBs / bareMBs) };
        say(`keys run ${i + 1}: ${JSON.stringify(row)}`);
        runs.push(row);
      }
      out.keys = { keys: cfg.keys, announceMs, runs, median: medians(runs, ['keysPerSec', 'cloneMBs', 'bareLinkMBs', 'vsBare']) };
    }
    if (cfg.parts.has('reads')) out.reads = await reads(cluster, a, root);
  } finally {
    await leave(a);
  }
}

async function blocksFetched(r: Redis, name: string): Promise<number> {
  return Number((await clusterLine(r, name))?.blocks_fetched ?? 0);
}

/** Cold: each sample a daemon with an empty data dir, one read. Warm: reads in one session after. */
async function reads(cluster: Cluster, a: Member, root: string): Promise<object> {
  const rnd = prng(cfg.seed);
  const pick = (): string => keyString(Math.floor(rnd() * cfg.keys));
  const load = load1();
  const cold: number[] = [];
  const coldBlocks: number[] = [];
  let last: Member | undefined;
  for (let i = 0; i < cfg.coldReads; i++) {
    if (last !== undefined) await leave(last);
    last = await member(cluster, [a.listen]);
    // The first read includes finding the provider on the DHT, as a user's first read does.
    const key = pick();
    const t0 = performance.now();
    const v = await last.r.callBuffer('REMOTE', cluster.name, '1', 'FETCHBIN', root, key);
    cold.push(performance.now() - t0);
    if (v === null) throw new Error(`cold read of ${key} found nothing`);
    coldBlocks.push(await blocksFetched(last.r, cluster.name));
  }
  const warm: number[] = [];
  const warmBlocks: number[] = [];
  if (last !== undefined) {
    for (let i = 0; i < cfg.warmReads; i++) {
      const before = await blocksFetched(last.r, cluster.name);
      const t0 = performance.now();
      await last.r.callBuffer('REMOTE', cluster.name, '1', 'FETCHBIN', root, pick());
      warm.push(performance.now() - t0);
      warmBlocks.push((await blocksFetched(last.r, cluster.name)) - before);
    }
    await leave(last);
  }
  const mean = (xs: number[]): number => r2(xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length));
  const row = {
    keys: cfg.keys, load1: load,
    cold: { samples: cold.length, p50Ms: r2(percentile(cold, 0.5)), p99Ms: r2(percentile(cold, 0.99)), blocksPerRead: mean(coldBlocks) },
    warm: { samples: warm.length, p50Ms: r2(percentile(warm, 0.5)), p99Ms: r2(percentile(warm, 0.99)), blocksPerRead: mean(warmBlocks) },
  };
  say(`reads: ${JSON.stringify(row)}`);
  return row;
}

/** Provide from one member, findProviders from another, in an in-process cluster. */
async function partLookup(out: Record<string, unknown>): Promise<void> {
  const cluster = newCluster();
  const nodes: ClusterNode[] = [];
  const start = (bootstrap: string[]): Promise<ClusterNode> => ClusterNode.start({ cluster: { ...cluster, bootstrap }, nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger: quiet });
  nodes.push(await start([]));
  for (let i = 1; i < cfg.nodes; i++) nodes.push(await start(nodes[0].multiaddrs()));
  try {
    await until(async () => (nodes.every((n) => n.routingTableSize() > 0) ? true : undefined), 'routing tables');
    const load = load1();
    const provideMs: number[] = [];
    const findMs: number[] = [];
    const totalMs: number[] = [];
    for (let i = 0; i < cfg.rounds; i++) {
      const provider = nodes[(i * 7) % nodes.length];
      const seeker = nodes[(i * 7 + 3) % nodes.length];
      const cid = rootCid(idOf(Buffer.from(`lookup round ${i} ${cluster.name}`)));
      const t0 = performance.now();
      await provider.libp2p.contentRouting.provide(cid, { signal: AbortSignal.timeout(30_000) });
      const t1 = performance.now();
      let found = false;
      for await (const p of seeker.libp2p.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(30_000) })) {
        if (p.id.equals(provider.peerId)) {
          found = true;
          break;
        }
      }
      const t2 = performance.now();
      if (!found) throw new Error(`round ${i}: the provider was not found`);
      provideMs.push(t1 - t0);
      findMs.push(t2 - t1);
      totalMs.push(t2 - t0);
    }
    const pq = (xs: number[]): { p50: number; p99: number } => ({ p50: r2(percentile(xs, 0.5)), p99: r2(percentile(xs, 0.99)) });
    out.lookup = { nodes: cfg.nodes, rounds: cfg.rounds, load1: load, provideMs: pq(provideMs), findProvidersMs: pq(findMs), announceToFoundMs: pq(totalMs) };
    say(`lookup: ${JSON.stringify(out.lookup)}`);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}


/** One daemon; cluster files added up to 1, 5, 20; RSS after each set is up and has settled. */
async function partMemory(out: Record<string, unknown>): Promise<void> {
  const runs: object[] = [];
  for (let run = 0; run < cfg.runs; run++) {
    const dir = await temp('mem');
    await mkdir(join(dir, 'clusters'), { recursive: true });
    const d = await startDaemon(dir);
    const r = new Redis({ port: d.port, host: '127.0.0.1' });
    try {
      const settle = async (): Promise<number> => {
        await new Promise((res) => setTimeout(res, 3000));
        return Math.round(statusField(d.pid, 'VmRSS') / 2 ** 20);
      };
      const row: Record<string, number> = { load1: load1(), clusters0: await settle() };
      const names: string[] = [];
      for (const n of [1, 5, 20]) {
        while (names.length < n) {
          const c = newCluster();
          names.push(c.name);
          await writeFile(join(dir, 'clusters', `c${names.length}.yaml`), renderCluster(c));
        }
        await until(async () => {
          const text = String(await r.call('INFO', 'cluster'));
          return names.every((name) => text.includes(`${name}:listen=/ip4`)) ? true : undefined;
        }, `${n} clusters`);
        row[`clusters${n}`] = await settle();
      }
      row.perClusterMiB = r2((row.clusters20 - row.clusters1) / 19);
      say(`memory run ${run + 1} (RSS MiB): ${JSON.stringify(row)}`);
      runs.push(row);
    } finally {
      r.disconnect();
      await d.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  out.memory = { runs, median: medians(runs, ['clusters0', 'clusters1', 'clusters5', 'clusters20', 'perClusterMiB']) };
}

async function main(): Promise<void> {
  if (cfg.parts.has('clone') && !existsSync(join(HELIA, 'node_modules/@helia/bitswap/package.json'))) {
    throw new Error('the clone part needs the bench-only Helia package: npm ci --prefix bench/helia');
  }
  const free = statfsSync(tmpdir()).bavail * statfsSync(tmpdir()).bsize;
  if (cfg.parts.has('clone') && free < 4 * cfg.size) throw new Error(`${tmpdir()} has ${Math.round(free / 2 ** 30)} GiB free; the clone part needs ${Math.ceil((4 * cfg.size) / 2 ** 30)}`);
  const out: Record<string, unknown> = { date: new Date().toISOString(), cpus: availableParallelism() };
  const cluster = newCluster();
  if (cfg.parts.has('clone')) await partClone(cluster, out);
  if (cfg.parts.has('keys') || cfg.parts.has('reads')) await partKeys(cluster, out);
  if (cfg.parts.has('lookup')) await partLookup(out);
  if (cfg.parts.has('memory')) await partMemory(out);
  console.log(JSON.stringify(out));
}

const cleanup = async (): Promise<void> => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
try {
  await main();
} finally {
  await cleanup();
}
