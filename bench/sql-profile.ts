import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { POINT_SQL, RANGE_SQL, benchTable } from './sql-table.ts';
import { type SqlInput, SqlEngine } from '../src/sql/index.ts';
import { openStore } from '../src/store/index.ts';
import { Trees } from '../src/tree/index.ts';

/**
 * The SQL engine in-process, without RESP, on bench/sql.ts's table: times one read workload and
 * writes its CPU profile (summarise it with bench/profile-summary.ts).
 *
 *   node bench/sql-profile.ts point|range [statements per call=100]   → .bench-tmp/sql-<mode>.cpuprofile
 *
 * SQL_BENCH_ROWS rows (100,000); SQL_PROFILE_STATEMENTS statements timed (10,000) after 2,000 warm ones,
 * SQL_PROFILE_ROUNDS times (1; the round with the least CPU is printed, every round's CPU beside it).
 * SQL_PROFILE=0 times without the profiler, which slows WebAssembly more than JavaScript.
 */
const rows = Number(process.env.SQL_BENCH_ROWS ?? 100_000);
const count = Number(process.env.SQL_PROFILE_STATEMENTS ?? 10_000);
const mode = process.argv[2] === 'range' ? 'range' : 'point';
const per = Number(process.argv[3] ?? 100);
const profiling = process.env.SQL_PROFILE !== '0';
const rounds = Number(process.env.SQL_PROFILE_ROUNDS ?? 1);

const dir = mkdtempSync(join(tmpdir(), 'crisscross-sqlprof-'));
const store = await openStore(dir, { logger: pino({ level: 'silent' }) });
try {
  const trees = new Trees(store, store);
  const engine = new SqlEngine(trees, pino({ level: 'silent' }));
  const built = await engine.run(await trees.root(trees.emptyRoot), benchTable(rows), { write: true, ttl: 0 });
  const root = await trees.root(built.root);
  const stmt = (x: number): SqlInput => mode === 'point'
    ? { sql: POINT_SQL, params: [x] }
    : { sql: RANGE_SQL, params: [x, x + 9] };
  const call = (i: number): Promise<unknown> => engine.run(root, Array.from({ length: per }, (_, j) => stmt(((i * per + j) * 7919) % rows)), { write: false, ttl: 0 });
  for (let i = 0; i < 2000 / per; i++) await call(i);
  const inspector = new Session();
  if (profiling) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.start');
  }
  // Several rounds: on a shared machine the least CPU a round took is the steadiest figure.
  const times: Array<{ ms: number; cpu: number }> = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < count / per; i++) await call(i);
    const used = process.cpuUsage(cpu);
    times.push({ ms: performance.now() - start, cpu: used.user + used.system });
  }
  if (profiling) {
    const { profile } = await inspector.post('Profiler.stop');
    mkdirSync('.bench-tmp', { recursive: true });
    writeFileSync(join('.bench-tmp', `sql-${mode}.cpuprofile`), JSON.stringify(profile));
  }
  // CPU time as well: on a shared machine the wall clock also counts other processes' turns.
  const best = times.reduce((a, b) => (b.cpu < a.cpu ? b : a));
  const each = rounds > 1 ? ` (rounds: ${times.map((t) => (t.cpu / count).toFixed(1)).join(', ')})` : '';
  console.log(`${mode}, ${per} per call: ${((best.ms * 1000) / count).toFixed(1)} µs per statement, ${(best.cpu / count).toFixed(1)} µs of CPU${profiling ? ' (profiled)' : ''}${each}`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
