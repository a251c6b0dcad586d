import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { decodeValue } from '../src/codec/index.ts';
import { newCluster, renderCluster } from '../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../src/net/identity.ts';
import { percentile, perSecond, withCpu } from './measure.ts';
import { startRedis } from './redis.ts';
import { type Daemon, startDaemon } from './serve.ts';

/**
 * `node bench/jobs.ts`: job round trips through real daemons.
 *  1. local: JOBDO → a JOBGET worker → JOBRESPOND → the reply, against the same pattern on
 *     redis-server (RPUSH a job, BLPOP workers, RPUSH the answer to the caller's reply list,
 *     BLPOP by the caller) in the same run: latency with one caller, jobs/s with JOBS_CALLERS;
 *     then the same with push-style workers (SUBSCRIBE on the service, JOBRESPOND on a second
 *     connection) against the same redis pattern again;
 *  2. remote: REMOTE c num JOBDO from a caller daemon to 1, 2 and 4 provider daemons.
 * Workers and callers are ioredis clients in this process, the same for both servers.
 */

const LOCAL_JOBS = Number(process.env.JOBS_LOCAL ?? 20_000);
const REMOTE_JOBS = Number(process.env.JOBS_REMOTE ?? 5_000);
const LATENCY_JOBS = Number(process.env.JOBS_LATENCY ?? 2_000);
const CALLERS = Number(process.env.JOBS_CALLERS ?? 32);
const WORKERS = Number(process.env.JOBS_WORKERS ?? 4);
const ROUNDS = Number(process.env.JOBS_ROUNDS ?? 3);

const kp = newKeyPair();
const service = keyName(kp.publicKey);
const ARG = Buffer.from([0x29]);
const RESPONSE = Buffer.from([0x2a]);

interface Run {
  p50: number;
  p99: number;
  perSecond: number;
}

/** `callers` loops of `one()` until `total` calls are done: latencies (ms) and calls/s. */
async function drive(total: number, callers: number, one: (caller: number) => Promise<void>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    while (next++ < total) {
      const t = performance.now();
      await one(c);
      latencies.push(performance.now() - t);
    }
  }));
  const ms = performance.now() - start;
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), perSecond: perSecond(latencies.length, ms) };
}

function clients(port: number, n: number): Redis[] {
  return Array.from({ length: n }, () => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null }));
}

/** crisscross workers: JOBGET, then JOBRESPOND signed with the raw seed, until their connection closes. */
function crissWorkers(port: number, n: number): Redis[] {
  const ws = clients(port, n);
  for (const w of ws) {
    void (async () => {
      for (;;) {
        const job = (await w.callBuffer('JOBGET', service, '0').catch(() => undefined)) as Buffer[] | null | undefined;
        if (job === undefined) return;
        if (job !== null) await w.callBuffer('JOBRESPOND', job[2], RESPONSE, kp.privateKey).catch(() => undefined);
      }
    })();
  }
  return ws;
}

/** Push-style crisscross workers: SUBSCRIBE on the service, each call answered on a second connection. */
async function crissPushWorkers(port: number, n: number): Promise<Redis[]> {
  const subs = clients(port, n);
  const outs = clients(port, n);
  await Promise.all(subs.map(async (sub, i) => {
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      const [, , ref] = decodeValue(message) as [Uint8Array, Uint8Array, string];
      outs[i].callBuffer('JOBRESPOND', ref, RESPONSE, kp.privateKey).catch(() => undefined);
    });
    await sub.subscribe(service);
  }));
  return [...subs, ...outs];
}

/** The same pattern on redis-server: a job list, and one reply list per call. */
function redisWorkers(port: number, n: number): Redis[] {
  const ws = clients(port, n);
  const outs = clients(port, n);
  ws.forEach((w, i) => {
    const out = outs[i];
    void (async () => {
      for (;;) {
        const job = (await w.callBuffer('BLPOP', 'jobs', '0').catch(() => undefined)) as Buffer[] | null | undefined;
        if (job === undefined) return;
        if (job === null) continue;
        const id = job[1].subarray(0, 16).toString('hex');
        await out.rpush(`reply:${id}`, RESPONSE).catch(() => undefined);
      }
    })();
  });
  return [...ws, ...outs];
}

/** A table row for the round with the median ratio, every round's ratio beside it. */
function medianRow(label: string, rounds: Array<{ ours: Run; theirs: Run }>): string {
  const ratios = rounds.map((r) => r.ours.perSecond / r.theirs.perSecond);
  const mid = rounds[ratios.indexOf([...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)])];
  const [ct, rt] = [mid.ours, mid.theirs];
  return `| ${label} | ${Math.round(ct.perSecond)} (p50 ${ct.p50.toFixed(2)} ms, p99 ${ct.p99.toFixed(2)} ms) | ${Math.round(rt.perSecond)} (p50 ${rt.p50.toFixed(2)} ms, p99 ${rt.p99.toFixed(2)} ms) | ${(ct.perSecond / rt.perSecond).toFixed(2)}× (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')}) |`;
}

async function local(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-jobs-'));
  const d = await startDaemon(join(dir, 'd'), process.env.JOBS_DAEMON_PROF !== undefined ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.JOBS_DAEMON_PROF}` } : {});
  const redis = await startRedis();
  const ours = clients(d.port, CALLERS);
  const theirs = clients(redis.port, CALLERS);
  await ours[0].call('JOBLOCAL', service, '-1');
  const cw = crissWorkers(d.port, WORKERS);
  const rw = redisWorkers(redis.port, WORKERS);
  const crissOne = async (c: number): Promise<void> => {
    const [r] = (await ours[c].callBuffer('JOBDO', service, '5000', 'add_one', ARG)) as unknown[];
    if (!Array.isArray(r)) throw new Error(`JOBDO failed: ${String(r)}`);
  };
  const redisOne = async (c: number): Promise<void> => {
    const id = crypto.getRandomValues(new Uint8Array(16));
    await theirs[c].rpush('jobs', Buffer.concat([id, ARG]));
    const r = await theirs[c].blpop(`reply:${Buffer.from(id).toString('hex')}`, 5);
    if (r === null) throw new Error('redis round trip timed out');
  };
  const out: string[] = [];
  try {
    await drive(500, CALLERS, crissOne);
    await drive(500, CALLERS, redisOne);
    const lat = [await drive(LATENCY_JOBS, 1, crissOne), await drive(LATENCY_JOBS, 1, redisOne)];
    // The machine is shared: rounds alternate between the two servers and the median round is kept.
    const rounds: Array<{ ours: Run; theirs: Run }> = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push({ ours: await drive(LOCAL_JOBS, CALLERS, crissOne), theirs: await drive(LOCAL_JOBS, CALLERS, redisOne) });
    out.push(
      `| local round trip, 1 caller | p50 ${lat[0].p50.toFixed(3)} ms, p99 ${lat[0].p99.toFixed(3)} ms | p50 ${lat[1].p50.toFixed(3)} ms, p99 ${lat[1].p99.toFixed(3)} ms | — |`,
      medianRow(`local jobs/s, ${CALLERS} callers, ${WORKERS} JOBGET workers`, rounds),
    );
    for (const w of cw.splice(0)) w.disconnect();
    cw.push(...(await crissPushWorkers(d.port, WORKERS)));
    await drive(500, CALLERS, crissOne);
    const pushRounds: Array<{ ours: Run; theirs: Run }> = [];
    for (let r = 0; r < ROUNDS; r++) pushRounds.push({ ours: await drive(LOCAL_JOBS, CALLERS, crissOne), theirs: await drive(LOCAL_JOBS, CALLERS, redisOne) });
    out.push(medianRow(`local jobs/s, ${CALLERS} callers, ${WORKERS} push workers (SUBSCRIBE)`, pushRounds));
  } finally {
    for (const c of [...ours, ...theirs, ...cw, ...rw]) c.disconnect();
    await d.close();
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function clusterListen(r: Redis, name: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const line = String(await r.call('INFO', 'cluster')).split('\r\n').find((l) => l.startsWith(`${name}:`));
    const m = line === undefined ? null : /listen=([^|,]+)/.exec(line);
    if (m !== null) return m[1];
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('cluster node did not start');
}

async function remote(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-jobs-remote-'));
  const cluster = newCluster();
  const daemons: Daemon[] = [];
  const all: Redis[] = [];
  const out: string[] = [];
  try {
    let bootstrap: string[] = [];
    for (let i = 0; i < 5; i++) {
      const data = join(dir, `d${i}`);
      mkdirSync(join(data, 'clusters'), { recursive: true });
      writeFileSync(join(data, 'clusters', 'bench.yaml'), renderCluster({ ...cluster, bootstrap }));
      const d = await startDaemon(data, { CRISSCROSS_OVERLAY: 'off' });
      daemons.push(d);
      const r = new Redis({ port: d.port, host: '127.0.0.1' });
      all.push(r);
      const addr = await clusterListen(r, cluster.name);
      if (i === 0) bootstrap = [addr];
    }
    const [caller, ...providers] = daemons;
    for (const p of providers) {
      all.push(...crissWorkers(p.port, WORKERS));
      await all[daemons.indexOf(p)].call('JOBANNOUNCE', cluster.name, service, '-1');
    }
    const callers = clients(caller.port, CALLERS);
    all.push(...callers);
    for (const num of [1, 2, 4]) {
      const one = async (c: number): Promise<void> => {
        const [r] = (await callers[c].callBuffer('REMOTE', cluster.name, String(num), 'JOBDO', service, '10000', 'add_one', ARG)) as unknown[];
        if (!Array.isArray(r)) throw new Error(`REMOTE JOBDO failed: ${String(r)}`);
      };
      // Until the DHT has every provider, a lookup finds fewer: warm up until num are in use.
      for (let i = 0; i < 100; i++) {
        await drive(200, CALLERS, one);
        const info = String(await all[0].call('INFO', 'jobs'));
        if ((info.match(/^provider_/gm) ?? []).length >= num) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      const lat = num === 1 ? await drive(LATENCY_JOBS, 1, one) : undefined;
      const start = performance.now();
      // The caller daemon's share of a core, and all six processes' share of the machine:
      // providers add throughput until one of the two is used up.
      const [[thr, callerCpu], allCpu] = await withCpu([process.pid, ...providers.map((p) => p.pid)], () => withCpu([caller.pid], () => drive(REMOTE_JOBS, CALLERS, one)));
      const seconds = (performance.now() - start) / 1000;
      const callerCore = callerCpu / seconds;
      const machine = (allCpu + callerCpu) / seconds / cpus().length;
      if (lat !== undefined) out.push(`| remote round trip, 1 caller, 1 provider | p50 ${lat.p50.toFixed(3)} ms, p99 ${lat.p99.toFixed(3)} ms | — | — |`);
      out.push(`| remote jobs/s, ${CALLERS} callers, num ${num} (${WORKERS} workers each); caller daemon ${callerCore.toFixed(2)} of a core, all processes ${(machine * 100).toFixed(0)} % of the machine | ${Math.round(thr.perSecond)} (p50 ${thr.p50.toFixed(2)} ms, p99 ${thr.p99.toFixed(2)} ms) | — | — |`);
    }
  } finally {
    for (const c of all) c.disconnect();
    for (const d of daemons) await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const before = loadavg().map((l) => l.toFixed(2)).join(' ');
const rows = [...(process.env.JOBS_SUITES ?? 'local,remote').split(',').includes('local') ? await local() : [], ...(process.env.JOBS_SUITES ?? 'local,remote').split(',').includes('remote') ? await remote() : []];
console.log(`load average before: ${before}, after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| measure | crisscross | redis-server | ratio |\n|---|---|---|---|');
for (const r of rows) console.log(r);
process.exit(0);
