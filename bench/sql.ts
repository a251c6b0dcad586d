import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { prng } from '../test/helpers/prng.ts';

/**
 * `npm run bench:sql`: SQL through the real daemon (`SQL`/`SQLREAD` over RESP, one client)
 * against SQLite itself (node:sqlite on a file, default durability) in the same run, on the same
 * rows and statements. Each figure is operations per second; the ratio is ours / SQLite's.
 *  1. insert SQL_BENCH_ROWS rows in batches of SQL_BENCH_BATCH, one durable call (transaction) each;
 *  2. primary-key point lookups: literal SQL text, one per call; `?` with PARAMS one per call, 100 calls in flight
 *     (pipelined), and 100 per call; 3. an indexed range (about 10 rows) the same ways; 4. a full-scan aggregate;
 *  5. a 3-table join over a 1,000-row slice of the big table.
 * Every read scenario runs SQL_BENCH_RUNS times on each engine, alternating engines scenario by scenario; the
 * figure is the median. Beside each, the CPU time per operation (the daemon's, from /proc; SQLite's, this
 * process's), also a median: on a shared machine it moves less than the wall clock.
 */
const rows = Number(process.env.SQL_BENCH_ROWS ?? 100_000);
const runs = Number(process.env.SQL_BENCH_RUNS ?? 5);
const batch = Number(process.env.SQL_BENCH_BATCH ?? 1000);
const lookups = Number(process.env.SQL_BENCH_LOOKUPS ?? 5000);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** /proc/<pid>/stat counts CPU time in clock ticks: 100 per second on Linux. */
const CLOCK_TICKS = 100;

const SCHEMA = [
  'CREATE TABLE t(id INTEGER PRIMARY KEY, g INTEGER, v REAL, name TEXT, b_id INTEGER)',
  'CREATE INDEX t_g ON t(g)',
  'CREATE TABLE b(id INTEGER PRIMARY KEY, c_id INTEGER, label TEXT)',
  'CREATE TABLE c(id INTEGER PRIMARY KEY, name TEXT)',
];

function insertBatch(from: number, to: number): string {
  const vals: string[] = [];
  for (let i = from; i < to; i++) vals.push(`(${i}, ${(i * 7919) % rows}, ${(i % 1000) / 8}, 'name ${i}', ${i % 1000})`);
  return `INSERT INTO t VALUES ${vals.join(', ')}`;
}

const SMALL = [
  `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) INSERT INTO b SELECT i, i % 100, 'label ' || i FROM n`,
  `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99) INSERT INTO c SELECT i, 'c' || (i % 10) FROM n`,
];

const POINT = (x: number): string => `SELECT name, v FROM t WHERE id = ${x}`;
const POINT_Q = 'SELECT name, v FROM t WHERE id = ?';
const RANGE_Q = 'SELECT count(*), sum(v) FROM t WHERE g BETWEEN ? AND ?';
const pointArgs = (x: number): string[] => [POINT_Q, 'PARAMS', '1', String(x)];
const rangeArgs = (x: number): string[] => [RANGE_Q, 'PARAMS', '2', String(x), String(x + 9)];
const SCAN = 'SELECT g % 10, count(*), avg(v) FROM t GROUP BY 1';
const JOIN = (x: number): string => `SELECT c.name, count(*), sum(t.v) FROM t JOIN b ON t.b_id = b.id JOIN c ON b.c_id = c.id WHERE t.id BETWEEN ${x} AND ${x + 999} GROUP BY c.name`;

async function startDaemon(dataDir: string): Promise<{ port: number; pid: number; close: () => Promise<void> }> {
  const child = spawn(join(ROOT, 'node_modules/.bin/node'), [join(ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--data-dir', dataDir,
    '--clusters-dir', join(dataDir, 'clusters'), '--keys-dir', join(dataDir, 'keys')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start')), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on redis:\/\/[^:]+:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { port, pid: child.pid as number, close: () => new Promise<void>((resolve) => void child.once('exit', () => resolve()).kill('SIGTERM')) };
}

async function timed(count: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  return count / ((performance.now() - start) / 1000);
}

interface Figures {
  insert: number;
  pointText: number;
  point: number;
  pointPipelined: number;
  pointBatch: number;
  range: number;
  rangePipelined: number;
  rangeBatch: number;
  scan: number;
  join: number;
}
type Reads = Omit<Figures, 'insert'>;
/** Each read scenario as a function measuring it once (operations per second). */
type Scenarios = Record<keyof Reads, () => Promise<number>>;

/** `count` operations issued 100 at a time without waiting for each reply (ioredis pipelines them). */
async function pipelined(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => fn(i + j)));
  return count / ((performance.now() - start) / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Engine {
  insert: number;
  reads: Scenarios;
  /** CPU time the engine has used so far (ms): the daemon process, or this one for SQLite. */
  cpuMs: () => number;
  close: () => Promise<void>;
}

/** One run of a scenario: operations per second, and CPU µs per operation. */
async function measure(e: Engine, k: keyof Reads): Promise<{ rate: number; cpu: number }> {
  const cpu = e.cpuMs();
  const start = performance.now();
  const rate = await e.reads[k]();
  const ops = rate * ((performance.now() - start) / 1000);
  return { rate, cpu: ((e.cpuMs() - cpu) * 1000) / ops };
}

/**
 * Runs each read scenario `runs` times on both engines, alternating scenario by scenario so that
 * both see the same load on a shared machine, and keeps each median (rates, then CPU per op).
 */
async function alternate(a: Engine, b: Engine): Promise<[Reads, Reads, Reads, Reads]> {
  const out: Array<Partial<Reads>> = [{}, {}, {}, {}];
  for (const k of Object.keys(a.reads) as Array<keyof Reads>) {
    const as: Array<{ rate: number; cpu: number }> = [];
    const bs: Array<{ rate: number; cpu: number }> = [];
    for (let r = 0; r < runs; r++) {
      as.push(await measure(a, k));
      bs.push(await measure(b, k));
    }
    out[0][k] = median(as.map((x) => x.rate));
    out[1][k] = median(bs.map((x) => x.rate));
    out[2][k] = median(as.map((x) => x.cpu));
    out[3][k] = median(bs.map((x) => x.cpu));
  }
  return out as [Reads, Reads, Reads, Reads];
}

/** utime + stime of a process (ms), from /proc: NaN where there is none. */
function processCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

async function ours(dir: string, keys: number[]): Promise<Engine> {
  const d = await startDaemon(dir);
  const redis = new Redis({ port: d.port, host: '127.0.0.1' });
  const call = async (cmd: string, ...args: string[]): Promise<Buffer[]> => (await redis.callBuffer(cmd, ...args)) as Buffer[];
  let root = (await call('SQL', '', '-1', ...SCHEMA, ...SMALL))[0].toString();
  const insert = (await timed(rows / batch, async (i) => {
    root = (await call('SQL', root, '-1', insertBatch(i * batch, (i + 1) * batch)))[0].toString();
  })) * batch;
  const reads: Scenarios = {
    pointText: () => timed(lookups, (i) => call('SQLREAD', root, POINT(keys[i]))),
    point: () => timed(lookups, (i) => call('SQLREAD', root, ...pointArgs(keys[i]))),
    pointPipelined: () => pipelined(lookups, (i) => call('SQLREAD', root, ...pointArgs(keys[i]))),
    pointBatch: async () => (await timed(lookups / 100, (i) => call('SQLREAD', root, ...keys.slice(i * 100, (i + 1) * 100).flatMap(pointArgs)))) * 100,
    range: () => timed(lookups, (i) => call('SQLREAD', root, ...rangeArgs(keys[i]))),
    rangePipelined: () => pipelined(lookups, (i) => call('SQLREAD', root, ...rangeArgs(keys[i]))),
    rangeBatch: async () => (await timed(lookups / 100, (i) => call('SQLREAD', root, ...keys.slice(i * 100, (i + 1) * 100).flatMap(rangeArgs)))) * 100,
    scan: () => timed(3, () => call('SQLREAD', root, SCAN)),
    join: () => timed(20, (i) => call('SQLREAD', root, JOIN(keys[i] % (rows - 1000)))),
  };
  return {
    insert, reads, cpuMs: () => processCpuMs(d.pid), close: async () => {
      redis.disconnect();
      await d.close();
    },
  };
}

async function native(dir: string, keys: number[]): Promise<Engine> {
  const db = new DatabaseSync(join(dir, 'native.db'));
  for (const s of [...SCHEMA, ...SMALL]) db.exec(s);
  const insert = (await timed(rows / batch, (i) => db.exec(`BEGIN; ${insertBatch(i * batch, (i + 1) * batch)}; COMMIT`))) * batch;
  const p = db.prepare(POINT_Q);
  const r = db.prepare(RANGE_Q);
  // SQLite runs each prepared lookup in a few µs: ten passes over the keys make a window long
  // enough that a scheduling hiccup on a shared machine does not decide the figure.
  const point = (): Promise<number> => timed(lookups * 10, (i) => p.all(keys[i % lookups]));
  const range = (): Promise<number> => timed(lookups * 10, (i) => r.all(keys[i % lookups], keys[i % lookups] + 9));
  const reads: Scenarios = {
    pointText: () => timed(lookups, (i) => db.prepare(POINT(keys[i])).all()),
    point, pointPipelined: point, pointBatch: point, range, rangePipelined: range, rangeBatch: range,
    scan: () => timed(3, () => db.prepare(SCAN).all()),
    join: () => timed(20, (i) => db.prepare(JOIN(keys[i] % (rows - 1000))).all()),
  };
  return { insert, reads, cpuMs: () => ((u) => (u.user + u.system) / 1000)(process.cpuUsage()), close: async () => db.close() };
}

const rnd = prng(42);
const keys = Array.from({ length: lookups }, () => Math.floor(rnd() * rows));
const dir = mkdtempSync(join(tmpdir(), 'crisscross-sqlbench-'));
try {
  const a = await ours(join(dir, 'ours'), keys);
  const b = await native(dir, keys);
  try {
    const [ra, rb, ca, cb] = await alternate(a, b);
    const fa: Figures = { insert: a.insert, ...ra };
    const fb: Figures = { insert: b.insert, ...rb };
    const label: Record<keyof Figures, string> = {
      insert: `Insert ${rows.toLocaleString('en')} rows, ${batch} per call (rows/s)`,
      pointText: 'Primary-key point lookup, literal SQL text, one per call (queries/s; SQLite prepares each)',
      point: '… `?` + PARAMS, one per call (SQLite: one prepared statement)',
      pointPipelined: '… `?` + PARAMS, one per call, 100 calls in flight',
      pointBatch: '… `?` + PARAMS, 100 lookups per SQLREAD call',
      range: 'Indexed range, ~10 rows, `?` + PARAMS, one per call (queries/s)',
      rangePipelined: '… 100 calls in flight',
      rangeBatch: '… 100 ranges per SQLREAD call',
      scan: `Full-scan aggregate over ${rows.toLocaleString('en')} rows (queries/s)`,
      join: '3-table join over a 1,000-row slice (queries/s)',
    };
    console.log(`medians of ${runs} runs of each read scenario, alternating engines (insert: one run); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log('| workload | crisscross (SQL over RESP) | SQLite (node:sqlite, file) | ratio | daemon CPU µs/op | SQLite CPU µs/op | CPU ratio |\n|---|---|---|---|---|---|---|');
    for (const k of Object.keys(label) as Array<keyof Figures>) {
      const cpu = k === 'insert' ? '— | — | —' : `${ca[k].toFixed(1)} | ${cb[k].toFixed(1)} | ${(cb[k] / ca[k]).toFixed(3)}×`;
      console.log(`| ${label[k]} | ${fa[k].toFixed(1)} | ${fb[k].toFixed(1)} | ${(fa[k] / fb[k]).toFixed(3)}× | ${cpu} |`);
    }
  } finally {
    await a.close();
    await b.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
