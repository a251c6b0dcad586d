import { existsSync } from 'node:fs';
import { startMapServer } from './map-server.ts';
import { median } from './measure.ts';
import { REDIS_BENCHMARK, REDIS_SERVER, redisBenchmark, startRedis } from './redis.ts';

/**
 * `node bench/resp.ts`: the RESP front-end against a real redis-server, both driven by
 * redis-benchmark in the same run. Our side serves GET/SET from an in-memory Map, so the
 * figure is the protocol layer's (decode, dispatch, encode, socket I/O), not the store's.
 * Rounds alternate between the two servers and the median is reported, which evens out the
 * noise of a shared machine. Sizes: RESP_BENCH_REQUESTS, RESP_BENCH_ROUNDS.
 */

const requests = Number(process.env.RESP_BENCH_REQUESTS ?? 200_000);
const rounds = Number(process.env.RESP_BENCH_ROUNDS ?? 3);

const SCENARIOS = [
  { name: 'PING, 50 clients', args: ['-t', 'ping_mbulk', '-c', '50'], target: 0.6 },
  { name: 'GET, 50 clients', args: ['-t', 'get', '-c', '50'], target: 0.6 },
  { name: 'GET, 50 clients, pipeline 16', args: ['-t', 'get', '-c', '50', '-P', '16'], target: 0.35 },
  { name: 'SET, 50 clients, pipeline 16', args: ['-t', 'set', '-c', '50', '-P', '16'], target: 0.35 },
];

async function main(): Promise<void> {
  if (!existsSync(REDIS_SERVER) || !existsSync(REDIS_BENCHMARK)) {
    console.error('needs redis-server and redis-benchmark (apt install redis-server redis-tools)');
    process.exitCode = 1;
    return;
  }
  const ours = await startMapServer();
  const redis = await startRedis();
  try {
    // Both key spaces hold the keys GET asks for, so both servers answer with values.
    await redisBenchmark(requests, ours.port, ['-t', 'set', '-c', '50', '-P', '16']);
    await redisBenchmark(requests, redis.port, ['-t', 'set', '-c', '50', '-P', '16']);
    console.log(`| scenario (${requests} requests, median of ${rounds}) | crisscross (req/s) | redis-server (req/s) | ratio | target |`);
    console.log('|---|---:|---:|---:|---:|');
    for (const s of SCENARIOS) {
      const mine: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < rounds; r++) {
        mine.push(await redisBenchmark(requests, ours.port, s.args));
        theirs.push(await redisBenchmark(requests, redis.port, s.args));
      }
      const a = median(mine);
      const b = median(theirs);
      const ratio = a / b;
      console.log(`| ${s.name} | ${Math.round(a)} | ${Math.round(b)} | ${ratio.toFixed(2)} | ≥ ${s.target} ${ratio >= s.target ? '✓' : '✗'} |`);
    }
  } finally {
    await ours.close();
    await redis.close();
  }
}

await main();
