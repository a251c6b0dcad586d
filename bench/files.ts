import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import {
  closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statfsSync, writeFileSync, writeSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { SETTINGS } from '../src/config.ts';
import { ingestOrder, keyString, prng, valueString } from './data.ts';
import { diskBytes, median, percentile } from './measure.ts';
import { check, RespPipe } from './resp-pipe.ts';
import { type Daemon, NODE, ROOT, startDaemon } from './serve.ts';

/**
 * `node bench/files.ts [--size 1G]`: files through the daemon, each figure set against a peer
 * measured in the same run (issue 6, "Performance"):
 *  - disk: `dd bs=1M conv=fdatasync` of the same file, twice (before and after the others), best kept;
 *  - Helia: @helia/unixfs on blockstore-fs, default importer, no network (bench/helia, a package of
 *    its own, installed on first use), adding, `cat`, 1 MiB ranges, and its peak RSS;
 *  - crisscross: a daemon in a temp dir; upload by `crisscross upload` when the CLI has it, else by
 *    bench/file-client.ts (same RESP commands, same command line; `--upload resp|cli` forces one);
 *    cat by FILEREAD windows, random 1 MiB FILEREAD p50/p99, peak RSS of daemon and client;
 *  - dedup: 100 bytes inserted in the middle of a 100 MiB file, uploaded again: new bytes stored;
 *  - GC: the tree bench's random ingest (TTL 0 on every intermediate root) leaves ~1.5M dead
 *    nodes at 1M keys; GC sweeps them while writers run PUTMULTIBIN; their rate during vs before;
 *    then the data directory per live pair against the same pairs ingested in key order + GC.
 * Everything talks to 127.0.0.1 only; every loop is bounded by a count and a time limit; the temp
 * dir is removed at exit, also after a failure or a signal.
 */

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    'dedup-size': { type: 'string', default: '100M' },
    keys: { type: 'string', default: '1000000' },
    'ingest-seconds': { type: 'string', default: '900' },
    upload: { type: 'string', default: 'auto' },
    only: { type: 'string', default: 'disk,helia,crisscross,dedup,gc' },
    reads: { type: 'string', default: '1000' },
    'read-seconds': { type: 'string', default: '20' },
    writers: { type: 'string', default: '4' },
    'writer-seconds': { type: 'string', default: '10' },
    'grace-ms': { type: 'string', default: '5000' },
    tmp: { type: 'string', default: join(ROOT, '.bench-tmp') },
    seed: { type: 'string', default: '42' },
  },
});

const MiB = 2 ** 20;

function bytesOption(name: string, raw: string): number {
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(raw);
  if (m === null) throw new Error(`--${name} takes a size like 256M or 1G, got '${raw}'`);
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
}

function intOption(name: string, raw: string): number {
  const n = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a non-negative integer, got '${raw}'`);
  return n;
}

const cfg = {
  size: bytesOption('size', opt.size),
  dedupSize: bytesOption('dedup-size', opt['dedup-size']),
  keys: intOption('keys', opt.keys),
  ingestSeconds: intOption('ingest-seconds', opt['ingest-seconds']),
  upload: opt.upload,
  parts: new Set(opt.only.split(',').map((s) => s.trim())),
  reads: intOption('reads', opt.reads),
  readSeconds: intOption('read-seconds', opt['read-seconds']),
  writers: intOption('writers', opt.writers),
  writerSeconds: intOption('writer-seconds', opt['writer-seconds']),
  graceMs: intOption('grace-ms', opt['grace-ms']),
  tmpRoot: opt.tmp,
  seed: intOption('seed', opt.seed),
};
if (!['auto', 'cli', 'resp'].includes(cfg.upload)) throw new Error(`--upload is auto, cli or resp, got '${cfg.upload}'`);
for (const p of cfg.parts) if (!['disk', 'helia', 'crisscross', 'dedup', 'gc'].includes(p)) throw new Error(`--only: unknown part '${p}'`);

function progress(msg: string): void {
  process.stderr.write(`[files ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---- scratch space and cleanup ----------------------------------------------------------------

mkdirSync(cfg.tmpRoot, { recursive: true });
const tmp = mkdtempSync(join(cfg.tmpRoot, 'files-'));
const children = new Set<ChildProcess>();
/** Daemons re-run by the bin live in a process group of their own: killing the bin leaves them. */
const daemons = new Set<number>();

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of daemons) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Refuses to start a run whose files would not fit, instead of filling a shared disk. */
function checkSpace(): void {
  const st = statfsSync(tmp);
  const free = st.bavail * st.bsize;
  // Peak: the file, one copy of it (dd, Helia's store or ours, each deleted after use), the two
  // dedup files with a store, and the ingest's LevelDB (~5 KB per pair before GC).
  const has = (...parts: string[]) => parts.some((p) => cfg.parts.has(p));
  const need = (has('disk', 'helia', 'crisscross') ? 2.5 * cfg.size : 0) + (has('dedup') ? 5 * cfg.dedupSize : 0) + (has('gc') ? cfg.keys * 6000 : 0) + 2 ** 30;
  progress(`disk: ${(free / 2 ** 30).toFixed(1)} GiB free under ${cfg.tmpRoot}, this run needs up to ${(need / 2 ** 30).toFixed(1)} GiB`);
  if (free < need) throw new Error(`not enough free disk under ${cfg.tmpRoot}: ${(free / 2 ** 30).toFixed(1)} GiB, need ${(need / 2 ** 30).toFixed(1)} GiB (use --size/--keys/--tmp)`);
}

// ---- workload files ---------------------------------------------------------------------------

/** A seeded AES-CTR keystream: incompressible, reproducible, and fast enough not to matter. */
function keystream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

/** Writes `size` random bytes, with `insert` bytes spliced in at `at` (the dedup edit). */
function makeFile(path: string, size: number, seed: number, insert?: { at: number; bytes: Buffer }): void {
  const next = keystream(seed);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(MiB, size - done, insert !== undefined && done < insert.at ? insert.at - done : Infinity);
      writeSync(fd, next(n));
      done += n;
      if (insert !== undefined && done === insert.at) writeSync(fd, insert.bytes);
    }
  } finally {
    closeSync(fd);
  }
}

// ---- child processes --------------------------------------------------------------------------

interface Ran {
  ms: number;
  stdout: string;
  stdoutBytes: number;
  /** Peak RSS of the child (bench/peak-rss.js), when it ran under Node. */
  rss?: number;
}

/** Runs a command to completion, timing it from spawn to exit; stdout is kept (text) or counted. */
function run(cmd: string, args: string[], opts: { keepStdout?: boolean; rssFile?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const env = opts.rssFile === undefined ? process.env : { ...process.env, BENCH_PEAK_RSS_FILE: opts.rssFile };
    // stderr is kept, not shown: a CLI draws progress bars on a TTY, which would cost it time here.
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const kept: Buffer[] = [];
    let stdoutBytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      stdoutBytes += d.length;
      if (opts.keepStdout !== false) kept.push(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
        return;
      }
      const rss = opts.rssFile !== undefined && existsSync(opts.rssFile) ? Number(readFileSync(opts.rssFile, 'utf8')) : undefined;
      resolve({ ms, stdout: Buffer.concat(kept).toString(), stdoutBytes, ...(rss !== undefined ? { rss } : {}) });
    });
  });
}

/** The kernel's high-water mark of a running process's RSS. */
function vmHwm(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Starts a new high-water mark (Linux clear_refs "5"); false where the kernel refuses. */
function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// ---- the results table ------------------------------------------------------------------------

interface Row {
  label: string;
  ours: number | undefined;
  peer: string;
  theirs: number | undefined;
  /** Whether a larger figure is better, so the ratio always reads ">1 is ours better". */
  higher: boolean;
  /** Absolute bounds on our figure, and a bound on the ratio to the peer. */
  target?: { min?: number; max?: number; vsPeer?: number };
}

const rows: Row[] = [];
const notes: string[] = [];
const failures: string[] = [];
const raw: Record<string, unknown> = {};

/** A part that fails is reported and the run goes on, so one missing command costs only its rows. */
async function attempt(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    failures.push(`${name}: ${(e as Error).message}`);
    progress(`${name} FAILED: ${(e as Error).message}`);
  }
}

function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  const digits = Math.abs(v) >= 1000 ? 0 : Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits >= 2 ? digits : 0 });
}

function ratioOf(r: Row): number | undefined {
  if (r.ours === undefined || r.theirs === undefined || r.ours === 0 || r.theirs === 0) return undefined;
  return r.higher ? r.ours / r.theirs : r.theirs / r.ours;
}

function targetText(r: Row): string {
  const t = r.target;
  if (t === undefined) return '—';
  const parts: string[] = [];
  if (t.min !== undefined) parts.push(`≥ ${t.min}`);
  if (t.max !== undefined) parts.push(`≤ ${t.max}`);
  if (t.vsPeer !== undefined) parts.push(`≥ ${t.vsPeer}× peer`);
  return parts.join(', ');
}

function met(r: Row, ratio: number | undefined): string {
  const t = r.target;
  if (t === undefined) return '';
  if (r.ours === undefined || (t.vsPeer !== undefined && ratio === undefined)) return '?';
  const ok = (t.min === undefined || r.ours >= t.min) && (t.max === undefined || r.ours <= t.max) && (t.vsPeer === undefined || (ratio as number) >= t.vsPeer);
  return ok ? 'yes' : '**no**';
}

function table(): string {
  const lines = ['| metric | crisscross | peer (same run) | peer\'s figure | ours vs peer | target | met? |', '|---|--:|---|--:|--:|---|---|'];
  for (const r of rows) {
    const ratio = ratioOf(r);
    lines.push(`| ${r.label} | ${fmt(r.ours)} | ${r.peer} | ${fmt(r.theirs)} | ${ratio === undefined ? '—' : `${ratio.toFixed(ratio >= 10 ? 0 : 2)}×`} | ${targetText(r)} | ${met(r, ratio)} |`);
  }
  return `${lines.join('\n')}\n\n"ours vs peer" is how many times better ours is (higher throughput, or lower time, size or memory).\n`;
}

const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const mib = (bytes: number) => bytes / MiB;
const sizeText = (bytes: number) => (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GiB` : `${(bytes / MiB).toFixed(0)} MiB`);

// ---- the disk anchor ----------------------------------------------------------------------------

async function diskWrite(file: string): Promise<number> {
  const out = join(tmp, 'dd.out');
  try {
    const r = await run('dd', [`if=${file}`, `of=${out}`, 'bs=1M', 'conv=fdatasync', 'status=none']);
    return mbps(cfg.size, r.ms);
  } finally {
    rmSync(out, { force: true });
  }
}

// ---- Helia --------------------------------------------------------------------------------------

const HELIA = join(ROOT, 'bench/helia');

interface HeliaAdd {
  bytes: number;
  ms: number;
  syncMs: number;
  storeBytes: number;
  storeLogical: number;
  blocks: number;
  addRss: number;
  rss: number;
  catMs?: number;
  rangeReads?: number;
  rangeP50?: number;
  rangeP99?: number;
}

/** Installs bench/helia from its own lockfile the first time, so the top-level install stays small. */
async function ensureHelia(): Promise<void> {
  if (existsSync(join(HELIA, 'node_modules/helia/package.json'))) return;
  progress('installing bench/helia (npm ci --prefix bench/helia)');
  await run('npm', ['ci', '--prefix', HELIA, '--no-audit', '--no-fund']);
}

async function heliaAdd(files: string[], reads: number): Promise<HeliaAdd[]> {
  const store = join(tmp, 'helia');
  try {
    const r = await run(NODE, [join(HELIA, 'add.ts'), store, '--reads', String(reads), '--seed', String(cfg.seed), '--read-seconds', String(cfg.readSeconds), ...files]);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as HeliaAdd);
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}

// ---- crisscross ---------------------------------------------------------------------------------

let uploadVia: 'cli' | 'resp' | undefined;

/** `crisscross upload` once the CLI has it (its own help answers), else the bench's stand-in. */
async function chooseUpload(): Promise<'cli' | 'resp'> {
  if (uploadVia !== undefined) return uploadVia;
  if (cfg.upload !== 'auto') uploadVia = cfg.upload as 'cli' | 'resp';
  else {
    const help = await run(NODE, [join(ROOT, 'bin/crisscross.js'), 'upload', '--help']).catch(() => undefined);
    uploadVia = help?.stdout.startsWith('Usage: crisscross upload') === true ? 'cli' : 'resp';
  }
  notes.push(uploadVia === 'cli'
    ? 'upload and cat ran through the CLI as users run it: `bin/crisscross.js upload FILE -p PORT`, `… cat ID -p PORT`'
    : 'upload and cat ran through bench/file-client.ts (FILEBEGIN, FILEWRITE of 1 MiB pieces with ≤ 16 MiB unacknowledged, FILEEND; cat: FILEREAD windows of 4 MiB, 4 in flight): the CLI has no `upload` on this commit');
  return uploadVia;
}

function clientArgs(via: 'cli' | 'resp', command: 'upload' | 'cat', target: string, port: number): string[] {
  // Plain JavaScript, so that measuring the CLI's memory does not load Node's type stripper into it.
  const peakRss = join(ROOT, 'bench/peak-rss.js');
  const entry = via === 'cli' ? join(ROOT, 'bin/crisscross.js') : join(ROOT, 'bench/file-client.ts');
  return ['--import', peakRss, entry, command, target, '-p', String(port)];
}

async function upload(port: number, file: string): Promise<{ id: string; ms: number; rss: number | undefined }> {
  const rssFile = join(tmp, 'client.rss');
  rmSync(rssFile, { force: true });
  const r = await run(NODE, clientArgs(await chooseUpload(), 'upload', file, port), { rssFile });
  const id = r.stdout.trim().split('\n').at(-1) ?? '';
  if (id === '') throw new Error('upload printed no file id');
  return { id, ms: r.ms, rss: r.rss };
}

async function cat(port: number, id: string): Promise<{ ms: number; bytes: number; rss: number | undefined }> {
  const rssFile = join(tmp, 'client.rss');
  rmSync(rssFile, { force: true });
  const r = await run(NODE, clientArgs(await chooseUpload(), 'cat', id, port), { keepStdout: false, rssFile });
  return { ms: r.ms, bytes: r.stdoutBytes, rss: r.rss };
}

/**
 * No background collection (it would sweep part of the garbage before the timed GC) and the
 * short grace period of --grace-ms, so the bench need not wait a minute. Through the
 * environment, by the names src/config.ts gives the settings, so a renamed flag cannot slip by.
 */
const GC_ENV = { [SETTINGS.gcGraceMs.env]: String(cfg.graceMs), [SETTINGS.gcIntervalMs.env]: '0' };

async function startOurs(name: string): Promise<Daemon & { dataDir: string; redis: Redis }> {
  const dataDir = join(tmp, name);
  const d = await startDaemon(dataDir, GC_ENV);
  track(d.child);
  daemons.add(d.pid);
  const redis = new Redis({ host: '127.0.0.1', port: d.port, maxRetriesPerRequest: 0 });
  return { ...d, dataDir, redis, close: async () => {
    redis.disconnect();
    await d.close();
    daemons.delete(d.pid);
    rmSync(dataDir, { recursive: true, force: true });
  } };
}

/** Fails early, and says why, when the daemon in this checkout predates the command. */
async function requireCommand(redis: Redis, name: string): Promise<void> {
  const [info] = (await redis.call('COMMAND', 'INFO', name)) as unknown[];
  if (info === null || info === undefined) {
    throw new Error(`daemon lacks ${name}: the file and GC commands of issue 6 (docs in /work/notes/files-api.md) are not in this checkout yet; merge main once they land`);
  }
}

/** `INFO store` as numbers (fields that are not numbers are left out). */
async function infoStore(redis: Redis): Promise<Record<string, number>> {
  const text = (await redis.call('INFO', 'store')) as string;
  const out: Record<string, number> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && Number.isFinite(Number(line.slice(i + 1)))) out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** Random 1 MiB FILEREADs, one at a time, each checked against the source file outside the clock. */
async function rangeReads(port: number, id: string, file: string): Promise<{ p50: number; p99: number; n: number }> {
  const pipe = await RespPipe.open(port);
  const fd = openSync(file, 'r');
  try {
    const rnd = prng(cfg.seed);
    const latencies: number[] = [];
    const expected = Buffer.allocUnsafe(MiB);
    const deadline = performance.now() + cfg.readSeconds * 1000;
    for (let i = 0; i < cfg.reads && performance.now() < deadline; i++) {
      const offset = Math.floor(rnd() * Math.max(1, cfg.size - MiB));
      const t0 = performance.now();
      const got = check(await pipe.send(['FILEREAD', id, String(offset), String(MiB)]), 'FILEREAD') as Buffer;
      latencies.push(performance.now() - t0);
      const n = readSync(fd, expected, 0, MiB, offset);
      if (!got.equals(expected.subarray(0, n))) throw new Error(`FILEREAD ${offset} ${MiB} returned other bytes than the file holds`);
    }
    return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), n: latencies.length };
  } finally {
    closeSync(fd);
    pipe.close();
  }
}

// ---- the parts ----------------------------------------------------------------------------------

async function partFile(file: string, measureDisk: (when: string) => Promise<void>, diskMbps: () => number | undefined): Promise<void> {
  let helia: HeliaAdd | undefined;
  if (cfg.parts.has('helia')) {
    await attempt('Helia', async () => {
      await ensureHelia();
      progress(`Helia: adding ${sizeText(cfg.size)}, cat, ${cfg.reads} range reads`);
      const [h] = await heliaAdd([file], cfg.reads);
      helia = h;
      raw.helia = h;
      notes.push(`Helia: ${h.blocks} blocks, ${fmt(mib(h.storeBytes))} MiB in blockstore-fs; blockstore-fs does not fsync: making its blocks durable afterwards took ${fmt(h.syncMs)} ms more (${fmt(mbps(cfg.size, h.ms + h.syncMs))} MiB/s add + fdatasync)`);
    });
  }
  await measureDisk('between');
  let ours: { up: Awaited<ReturnType<typeof upload>>; cat: Awaited<ReturnType<typeof cat>>; reads: Awaited<ReturnType<typeof rangeReads>>; hwmUp: number; hwmCat: number | undefined; disk: number } | undefined;
  if (cfg.parts.has('crisscross')) await attempt('crisscross', async () => {
    const d = await startOurs('ours');
    try {
      await requireCommand(d.redis, 'FILEBEGIN');
      progress(`crisscross: uploading ${sizeText(cfg.size)}`);
      const up = await upload(d.port, file);
      const hwmUp = vmHwm(d.pid);
      const size = Number(await d.redis.call('FILESIZE', up.id));
      if (size !== cfg.size) throw new Error(`FILESIZE says ${size}, the file has ${cfg.size} bytes`);
      const reset = resetHwm(d.pid);
      progress('crisscross: cat');
      const c = await cat(d.port, up.id);
      if (c.bytes !== cfg.size) throw new Error(`cat gave ${c.bytes} bytes of ${cfg.size}`);
      const hwmCat = reset ? vmHwm(d.pid) : undefined;
      progress(`crisscross: ${cfg.reads} random 1 MiB FILEREADs`);
      const reads = await rangeReads(d.port, up.id, file);
      ours = { up, cat: c, reads, hwmUp, hwmCat, disk: diskBytes(d.dataDir) };
      raw.crisscross = ours;
    } finally {
      await d.close();
    }
  });
  await measureDisk('after');
  const disk = diskMbps();
  const size = sizeText(cfg.size);
  const upMbps = ours === undefined ? undefined : mbps(cfg.size, ours.up.ms);
  rows.push({ label: `Upload of ${size} (MiB/s)`, ours: upMbps, peer: 'disk: dd bs=1M conv=fdatasync', theirs: disk, higher: true,
    target: { vsPeer: 0.7 } });
  rows.push({ label: `Upload of ${size} (MiB/s)`, ours: upMbps, peer: 'Helia addByteStream, blockstore-fs', theirs: helia && mbps(cfg.size, helia.ms), higher: true,
    target: { vsPeer: 1 } });
  rows.push({ label: `… Helia made durable (MiB/s)`, ours: upMbps, peer: 'Helia add + fdatasync of its blocks', theirs: helia && mbps(cfg.size, helia.ms + helia.syncMs), higher: true });
  rows.push({ label: `cat of ${size} (GB/s)`, ours: ours && cfg.size / 1e9 / (ours.cat.ms / 1000), peer: 'Helia cat', theirs: helia?.catMs && cfg.size / 1e9 / (helia.catMs / 1000), higher: true,
    target: { min: 0.5 } });
  rows.push({ label: 'Random 1 MiB byte range, p50 (ms)', ours: ours?.reads.p50, peer: 'Helia cat offset/length', theirs: helia?.rangeP50, higher: false });
  rows.push({ label: 'Random 1 MiB byte range, p99 (ms)', ours: ours?.reads.p99, peer: 'Helia cat offset/length', theirs: helia?.rangeP99, higher: false });
  rows.push({ label: 'Peak RSS of the daemon, upload (MiB)', ours: ours && mib(ours.hwmUp), peer: 'Helia process, add', theirs: helia && mib(helia.addRss), higher: false,
    target: { max: 200 } });
  rows.push({ label: 'Peak RSS of the daemon, cat and range reads (MiB)', ours: ours?.hwmCat && mib(ours.hwmCat), peer: 'Helia process, add + cat + ranges', theirs: helia && mib(helia.rss), higher: false,
    target: { max: 200 } });
  rows.push({ label: 'Peak RSS of the client, upload (MiB)', ours: ours?.up.rss && mib(ours.up.rss), peer: 'Helia process, add', theirs: helia && mib(helia.addRss), higher: false,
    target: { max: 200 } });
  rows.push({ label: 'Peak RSS of the client, cat (MiB)', ours: ours?.cat.rss && mib(ours.cat.rss), peer: 'Helia process, add + cat + ranges', theirs: helia && mib(helia.rss), higher: false,
    target: { max: 200 } });
  rows.push({ label: `On disk per byte of the file`, ours: ours && ours.disk / cfg.size, peer: 'Helia blockstore-fs', theirs: helia && helia.storeBytes / cfg.size, higher: false });
  if (ours !== undefined) {
    notes.push(`crisscross: upload ${fmt(ours.up.ms)} ms, cat ${fmt(ours.cat.ms)} ms (both from spawning the client to its exit), ${ours.reads.n} range reads, each checked against the file`);
  }
}

async function partDedup(): Promise<void> {
  const a = join(tmp, 'dedup-a');
  const b = join(tmp, 'dedup-b');
  const insert = keystream(cfg.seed + 7)(100);
  makeFile(a, cfg.dedupSize, cfg.seed + 1);
  makeFile(b, cfg.dedupSize, cfg.seed + 1, { at: Math.floor(cfg.dedupSize / 2), bytes: insert });
  try {
    let heliaNew: number | undefined;
    if (cfg.parts.has('helia')) await attempt('dedup, Helia', async () => {
      await ensureHelia();
      progress('dedup: Helia');
      const [ra, rb] = await heliaAdd([a, b], 0);
      heliaNew = rb.storeLogical - ra.storeLogical;
      notes.push(`dedup, Helia: ${ra.blocks} blocks after the first file, ${rb.blocks} after the second; allocated bytes grew ${fmt(mib(rb.storeBytes - ra.storeBytes))} MiB`);
    });
    let oursNew: number | undefined;
    if (cfg.parts.has('crisscross')) await attempt('dedup, crisscross', async () => {
      const d = await startOurs('dedup');
      try {
        await requireCommand(d.redis, 'FILEBEGIN');
        progress('dedup: crisscross');
        const ua = await upload(d.port, a);
        const before = await infoStore(d.redis);
        const diskBefore = diskBytes(d.dataDir);
        const ub = await upload(d.port, b);
        const after = await infoStore(d.redis);
        const diskAfter = diskBytes(d.dataDir);
        if (ua.id === ub.id) throw new Error('the edited file got the same id as the original');
        // Bytes the store wrote for the second file, blocks and blobs: what the edit cost. The data
        // dir's growth is the check (it also holds LevelDB's log of the index entries).
        const written = (i: Record<string, number>) => (i.store_bytes_written ?? 0) + (i.store_blob_bytes_written ?? 0);
        const counted = 'store_bytes_written' in after;
        oursNew = counted ? written(after) - written(before) : diskAfter - diskBefore;
        const deltas = Object.keys(after).filter((k) => k.includes('bytes') && k in before).map((k) => `${k} +${after[k] - before[k]}`);
        notes.push(`dedup, crisscross: new bytes = ${counted ? 'growth of store_bytes_written + store_blob_bytes_written' : 'data-dir growth (INFO store has no byte counters)'}; the data directory grew ${fmt(mib(diskAfter - diskBefore))} MiB; INFO store: ${deltas.join(', ')}`);
      } finally {
        await d.close();
      }
    });
    rows.push({ label: `Dedup: new bytes stored after inserting 100 B in the middle of ${sizeText(cfg.dedupSize)} (MiB)`, ours: oursNew && mib(oursNew),
      peer: 'Helia default chunker (fixed 1 MiB)', theirs: heliaNew && mib(heliaNew), higher: false });
  } finally {
    rmSync(a, { force: true });
    rmSync(b, { force: true });
  }
}

/** GC's reply: a RESP2 flat array of field/value pairs. */
function gcFields(reply: unknown): Record<string, number> {
  const flat = reply as Array<string | number>;
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = Number(flat[i + 1]);
  return out;
}

/** PUTMULTIBIN in batches of 1,000 on the previous root, every intermediate root unpinned (TTL 0). */
async function ingest(redis: Redis, order: Uint32Array): Promise<{ root: string; pairs: number; ms: number }> {
  let root = '';
  let pairs = 0;
  const t0 = performance.now();
  const deadline = t0 + cfg.ingestSeconds * 1000;
  for (let from = 0; from < order.length && performance.now() < deadline; from += 1000) {
    const args: string[] = [root, '0'];
    for (const i of order.subarray(from, Math.min(order.length, from + 1000))) args.push(keyString(i), valueString(i));
    root = ((await redis.callBuffer('PUTMULTIBIN', ...args)) as Buffer).toString();
    pairs = Math.min(order.length, from + 1000);
    if ((from / 1000) % 100 === 99) progress(`  ${pairs} pairs`);
  }
  if (pairs < order.length) notes.push(`the ingest was STOPPED by --ingest-seconds after ${pairs} of ${order.length} pairs`);
  await redis.call('PERSIST', root, '-1');
  return { root, pairs, ms: performance.now() - t0 };
}

/**
 * Sleeps past the grace period the daemon reports (--grace-ms when `serve` takes --gc-grace),
 * and past `gc_next_possible_at_ms` (a collector spares everything for one grace period after
 * it starts, covering roots handed out before a restart).
 */
async function waitPastGrace(redis: Redis): Promise<void> {
  const { gc_grace_ms: grace, gc_next_possible_at_ms: nextAt } = await infoStore(redis);
  if (grace === undefined) throw new Error('INFO store reports no gc_grace_ms');
  const ms = Math.max(grace, (nextAt ?? 0) - Date.now()) + 1000;
  progress(`waiting ${ms} ms, past the GC grace period`);
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * `cfg.writers` connections, each putting one new key per durable PUTMULTIBIN (TTL 0) on a small
 * tree of its own, until `stop` resolves, the time limit or the count limit.
 */
async function writers(port: number, seconds: number, stop: Promise<void>): Promise<{ puts: number; ms: number; p99: number }> {
  const MAX_PUTS = 2_000_000;
  let stopped = false;
  void stop.then(() => { stopped = true; });
  const clients = Array.from({ length: cfg.writers }, () => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0 }));
  const latencies: number[] = [];
  let puts = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(clients.map(async (c, w) => {
    let root = '';
    for (let n = 0; !stopped && puts < MAX_PUTS && performance.now() < deadline; n++) {
      const s = performance.now();
      root = ((await c.callBuffer('PUTMULTIBIN', root, '0', `w${w}/${n}`, valueString(n))) as Buffer).toString();
      latencies.push(performance.now() - s);
      puts++;
    }
  }));
  const ms = performance.now() - t0;
  for (const c of clients) c.disconnect();
  return { puts, ms, p99: percentile(latencies, 0.99) };
}

async function partGc(): Promise<void> {
  const d = await startOurs('gc');
  let perPair: number | undefined;
  try {
    await requireCommand(d.redis, 'GC');
    progress(`GC: random-order ingest of ${cfg.keys} pairs, every intermediate root TTL 0`);
    const ing = await ingest(d.redis, ingestOrder(cfg.keys, true, cfg.seed));
    await waitPastGrace(d.redis);
    const before = await infoStore(d.redis);
    const diskBefore = diskBytes(d.dataDir);
    // A background collection during the ingest would have swept part of the garbage already.
    notes.push(`GC: the random ingest ran at ${fmt(ing.pairs / (ing.ms / 1000))} pairs/s; before GC: ${fmt(diskBefore / ing.pairs)} B/pair on disk, store_blocks_written ${before.store_blocks_written ?? '?'}, gc_runs ${before.gc_runs ?? '?'} (background collections so far)`);

    // GC first, writers alone after: the sweep then does not depend on how the collector buckets
    // grace roots (when a bucket was 4,096 roots, writers running before the GC kept every
    // intermediate root of the ingest alive through it).
    progress('GC: sweeping while the writers run');
    let done = (): void => {};
    const gcDone = new Promise<void>((r) => { done = r; });
    const during = writers(d.port, 600, gcDone);
    const t0 = performance.now();
    const gc = gcFields(await d.redis.call('GC').finally(done));
    const gcMs = performance.now() - t0;
    const w = await during;
    progress(`GC: the same ${cfg.writers} writers alone for ${cfg.writerSeconds} s`);
    const alone = await writers(d.port, cfg.writerSeconds, new Promise(() => {}));
    raw.gc = { ingest: ing, before, gc, gcMs, alone, during: w };
    const freed = gc.freed_blocks;
    rows.push({ label: `GC after a ${cfg.keys.toLocaleString('en-US')}-pair random ingest: ${freed.toLocaleString('en-US')} blocks freed (s)`, ours: gcMs / 1000, peer: '—', theirs: undefined, higher: false });
    rows.push({ label: '… blocks freed per second', ours: freed / (gcMs / 1000), peer: '—', theirs: undefined, higher: true });
    rows.push({ label: '… writers\' durable puts during GC (puts/s)', ours: w.puts / (w.ms / 1000), peer: 'the same writers right after, no GC', theirs: alone.puts / (alone.ms / 1000), higher: true });
    rows.push({ label: '… writers\' put latency p99 during GC (ms)', ours: w.p99, peer: 'the same writers right after, no GC', theirs: alone.p99, higher: false });
    notes.push(`GC: ${freed} blocks (${fmt(mib(gc.freed_bytes))} MiB) freed in ${fmt(gcMs)} ms wall (reply: duration_ms ${gc.duration_ms}, marked_blocks ${gc.marked_blocks}, roots ${gc.roots}, segments_compacted ${gc.segments_compacted}); ${cfg.writers} writers, one new key per durable PUTMULTIBIN on trees of their own`);

    // The writers' own trees are garbage too: a second GC frees them, so what is left is the ingest's.
    await waitPastGrace(d.redis);
    const t1 = performance.now();
    const gc2 = gcFields(await d.redis.call('GC'));
    notes.push(`GC: a second GC (no writers, freeing the writers' trees) freed ${gc2.freed_blocks} blocks in ${fmt(performance.now() - t1)} ms`);
    const after = await infoStore(d.redis);
    perPair = diskBytes(d.dataDir) / ing.pairs;
    notes.push(`after GC: store_live_bytes ${fmt((after.store_live_bytes ?? NaN) / ing.pairs)} B/pair, store_live_blocks ${after.store_live_blocks ?? '?'}`);
  } finally {
    await d.close();
  }

  const k = await startOurs('gc-peer');
  try {
    progress(`GC peer: key-order ingest of the same ${cfg.keys} pairs, then GC`);
    const ing = await ingest(k.redis, ingestOrder(cfg.keys, false, cfg.seed));
    await waitPastGrace(k.redis);
    await k.redis.call('GC');
    rows.push({ label: 'On disk after the random ingest + GC (B/live pair)', ours: perPair, peer: 'same pairs in key order + GC', theirs: diskBytes(k.dataDir) / ing.pairs, higher: false });
  } finally {
    await k.close();
  }
}

// ---- main ---------------------------------------------------------------------------------------

function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted src/ changes` : head;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const load0 = loadavg().map((l) => l.toFixed(2)).join(' ');
  const rev = revision();
  checkSpace();
  if (cfg.parts.has('disk') || cfg.parts.has('helia') || cfg.parts.has('crisscross')) {
    const file = join(tmp, 'file');
    progress(`generating ${sizeText(cfg.size)} of random bytes`);
    makeFile(file, cfg.size, cfg.seed);
    // The disk is shared and noisy (two runs a minute apart differed 2.4× here): three samples, one
    // before, one between and one after the engines, and their median is the anchor.
    const disk: number[] = [];
    const measureDisk = (when: string) => attempt('disk', async () => {
      if (!cfg.parts.has('disk')) return;
      progress(`disk: dd conv=fdatasync, ${when}`);
      disk.push(await diskWrite(file));
    });
    await measureDisk('before');
    await attempt('file', () => partFile(file, measureDisk, () => (disk.length === 0 ? undefined : median(disk))));
    if (disk.length > 0) notes.push(`disk: dd of the ${sizeText(cfg.size)} file with conv=fdatasync: ${disk.map((v) => fmt(v)).join(', ')} MiB/s (before, between and after the engines); the median is the anchor`);
    rmSync(file, { force: true });
  }
  if (cfg.parts.has('dedup')) await attempt('dedup', partDedup);
  if (cfg.parts.has('gc')) await attempt('gc', partGc);

  const header = [
    `date ${new Date().toISOString()}, node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'})`,
    `commit ${rev} (at start); load average ${load0} before, ${loadavg().map((l) => l.toFixed(2)).join(' ')} after`,
    `command: node bench/files.ts ${process.argv.slice(2).join(' ')}`.trimEnd(),
    `file ${sizeText(cfg.size)}, dedup ${sizeText(cfg.dedupSize)}, ${cfg.keys} pairs for GC, ${cfg.reads} range reads, ${cfg.writers} writers, tmp ${cfg.tmpRoot}`,
  ].join('\n');
  const failed = failures.map((f) => `- FAILED ${f}`);
  process.stdout.write(`${header}\n\n${table()}\n${[...failed, ...notes.map((n) => `- ${n}`)].join('\n')}\n`);
  writeFileSync(join(cfg.tmpRoot, 'files-results.json'), JSON.stringify({ cfg: { ...cfg, parts: [...cfg.parts] }, rows, notes, failures, raw }, null, 2));
  if (failures.length > 0) process.exitCode = 1;
}

await main();
