import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startMapServer } from './map-server.ts';
import { median, withCpu } from './measure.ts';
import { REDIS_BENCHMARK, REDIS_SERVER, redisBenchmark, startRedis } from './redis.ts';
import { startDaemon } from './serve.ts';

/**
 * `node bench/daemon.ts`: the real daemon (`crisscross serve`, a child process with its own
 * LevelDB) against a real redis-server, both driven by redis-benchmark in the same run.
 *  1. batch ingest through RESP: PUTMULTIBIN with DAEMON_BENCH_BATCH pairs per call, each call
 *     on the previous root, until the tree holds DAEMON_BENCH_KEYS keys;
 *  2. FETCHBIN on that tree vs GET on redis-server holding the same keys, 50 clients, without
 *     and with a pipeline of 16 (the keys are redis-benchmark's `key:__rand_int__`);
 *     with the daemon's CPU per read, and the RESP front-end alone (bench/map-server.ts: GET from a
 *     Map, in this process) against the same redis-server, to tell the front-end from the tree;
 *  3. single-key PUTMULTIBIN into the tree with a 60 s TTL vs SET, 50 clients, with the
 *     daemon's CPU per put; then from one client with a pipeline of 64 (a pipeline's puts share syncs).
 * Rounds alternate between the two servers and the median is kept. DAEMON_BENCH_PROFILE=<dir>
 * has the daemon write a CPU profile there when it stops.
 */

const keys = Number(process.env.DAEMON_BENCH_KEYS ?? 1_000_000);
const batch = Number(process.env.DAEMON_BENCH_BATCH ?? 1000);
const reads = Number(process.env.DAEMON_BENCH_READS ?? 200_000);
const writes = Number(process.env.DAEMON_BENCH_WRITES ?? 50_000);
const rounds = Number(process.env.DAEMON_BENCH_ROUNDS ?? 3);
/** A directory for the daemon's `--cpu-prof` profile (`node bench/profile-summary.ts` reads it). */
const profileDir = process.env.DAEMON_BENCH_PROFILE;

/** redis-benchmark's `__rand_int__` is the number zero-padded to 12 digits. */
const keyOf = (i: number): string => `key:${String(i).padStart(12, '0')}`;
const VALUE = 'x'.repeat(32);
/** Writes change the value (redis-benchmark fills in `__rand_int__`): a put of the value already there changes no node. */
const PUT_VALUE = `${'x'.repeat(20)}__rand_int__`;

/** Chained PUTMULTIBIN calls; returns the final root and pairs per second. */
async function ingest(port: number): Promise<{ root: string; rate: number }> {
  const client = new Redis({ port, host: '127.0.0.1' });
  let root = '';
  const start = performance.now();
  for (let from = 0; from < keys; from += batch) {
    const args: string[] = [root, '-1'];
    for (let i = from; i < Math.min(keys, from + batch); i++) args.push(keyOf(i), VALUE);
    root = ((await client.callBuffer('PUTMULTIBIN', ...args)) as Buffer).toString();
  }
  const rate = keys / ((performance.now() - start) / 1000);
  client.disconnect();
  return { root, rate };
}

async function fillRedis(port: number): Promise<void> {
  const client = new Redis({ port, host: '127.0.0.1' });
  for (let from = 0; from < keys; from += batch) {
    const args: string[] = [];
    for (let i = from; i < Math.min(keys, from + batch); i++) args.push(keyOf(i), VALUE);
    await client.call('MSET', ...args);
  }
  client.disconnect();
}

async function compare(name: string, target: number, ours: () => Promise<number>, theirs: () => Promise<number>): Promise<string> {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(await ours());
    b.push(await theirs());
  }
  const ratio = median(a) / median(b);
  return `| ${name} | ${Math.round(median(a))} | ${Math.round(median(b))} | ${ratio.toFixed(2)} | ≥ ${target} ${ratio >= target ? '✓' : '✗'} |`;
}

async function main(): Promise<void> {
  if (!existsSync(REDIS_SERVER) || !existsSync(REDIS_BENCHMARK)) {
    console.error('needs redis-server and redis-benchmark (apt install redis-server redis-tools)');
    process.exitCode = 1;
    return;
  }
  const dataDir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'crisscross-daemon-bench-'));
  const daemon = await startDaemon(dataDir, profileDir === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` });
  const redis = await startRedis();
  const map = await startMapServer();
  try {
    const { root, rate } = await ingest(daemon.port);
    await fillRedis(redis.port);
    const value = Buffer.from(VALUE);
    for (let i = 0; i < keys; i++) map.data.set(keyOf(i), value);
    const range = ['-r', String(keys)];
    const putCpu: number[] = [];
    const readCpu: Record<string, number[]> = { '1': [], '16': [] };
    const fetch = (pipeline: string) => async () => {
      const [rate, cpu] = await withCpu([daemon.pid], () => redisBenchmark(reads, daemon.port, [...range, '-c', '50', '-P', pipeline, 'FETCHBIN', root, 'key:__rand_int__']));
      readCpu[pipeline].push(cpu);
      return rate;
    };
    const get = (port: number, pipeline: string) => () => redisBenchmark(reads, port, [...range, '-c', '50', '-P', pipeline, 'GET', 'key:__rand_int__']);
    const lines = [
      `| scenario (${keys.toLocaleString('en-US')} keys, median of ${rounds}) | crisscross (req/s) | redis-server (req/s) | ratio | target |`,
      '|---|---:|---:|---:|---:|',
      await compare('FETCHBIN vs GET, 50 clients', 0.7, fetch('1'), get(redis.port, '1')),
      await compare('… the front-end alone: GET from a Map (bench/map-server.ts) vs GET, 50 clients', 0.7, get(map.port, '1'), get(redis.port, '1')),
      await compare('FETCHBIN vs GET, 50 clients, pipeline 16', 0.45, fetch('16'), get(redis.port, '16')),
      await compare('… the front-end alone, pipeline 16', 0.45, get(map.port, '16'), get(redis.port, '16')),
      await compare('PUTMULTIBIN (one key, TTL 60 s, durable) vs SET, 50 clients', 0.25,
        async () => {
          const [rate, cpu] = await withCpu([daemon.pid], () => redisBenchmark(writes, daemon.port, [...range, '-c', '50', 'PUTMULTIBIN', root, '60000', 'key:__rand_int__', PUT_VALUE]));
          putCpu.push(cpu);
          return rate;
        },
        () => redisBenchmark(writes, redis.port, [...range, '-c', '50', 'SET', 'key:__rand_int__', PUT_VALUE])),
      await compare('PUTMULTIBIN (one key, TTL 60 s, durable) vs SET, one client, pipeline 64', 0.25,
        () => redisBenchmark(writes / 4, daemon.port, [...range, '-c', '1', '-P', '64', 'PUTMULTIBIN', root, '60000', 'key:__rand_int__', PUT_VALUE]),
        () => redisBenchmark(writes / 4, redis.port, [...range, '-c', '1', '-P', '64', 'SET', 'key:__rand_int__', PUT_VALUE])),
    ];
    console.log(lines.join('\n'));
    const perRead = (p: string): number => (median(readCpu[p]) * 1e6) / reads;
    console.log(`\nDaemon CPU per FETCHBIN (user + system, all threads, median of ${rounds}): ${perRead('1').toFixed(1)} µs, ${perRead('16').toFixed(1)} µs with pipeline 16`);
    console.log(`Daemon CPU per single-key put (user + system, all threads, median of ${rounds}): ${Math.round((median(putCpu) * 1e6) / writes)} µs`);
    console.log(`Batch ingest through RESP (PUTMULTIBIN, ${batch} pairs a call, chained, each call durable): ${Math.round(rate).toLocaleString('en-US')} pairs/s (target ≥ 500,000)`);
  } finally {
    await map.close();
    await daemon.close();
    await redis.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
