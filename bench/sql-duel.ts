import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { POINT_SQL, RANGE_SQL, benchTable } from './sql-table.ts';

/**
 * Two checkouts' SQL engines in one process, on bench/sql.ts's table each, timed in alternating
 * rounds of batched reads: on a machine shared with other work, the load moves from second to
 * second, and a pair of rounds taken back to back sees the same load. Prints each side's CPU µs
 * per statement by round (min and median) and the median of the per-round ratio B / A.
 *
 *   node bench/sql-duel.ts point|range <checkout A> <checkout B> [rounds=12]
 *
 * SQL_DUEL_STATEMENTS per round (3,000; distinct statements within a round, the same in every
 * round), 100 per call, after 3,000 warm ones; SQL_BENCH_ROWS rows (100,000). A checkout is a
 * directory holding `src/` (another worktree, say).
 */
const [mode, dirA, dirB, roundsArg] = process.argv.slice(2);
if ((mode !== 'point' && mode !== 'range') || dirA === undefined || dirB === undefined) {
  console.error('usage: node bench/sql-duel.ts point|range <checkout A> <checkout B> [rounds]');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 12);
const rows = Number(process.env.SQL_BENCH_ROWS ?? 100_000);
const count = Number(process.env.SQL_DUEL_STATEMENTS ?? 3000);
const per = 100;
const temp: string[] = [];

interface EngineLike {
  run(root: unknown, sqls: unknown[], opts: { write: boolean; ttl: number }): Promise<{ root: unknown }>;
}
interface TreesLike {
  emptyRoot: unknown;
  root(id: unknown): Promise<unknown>;
}

/** One checkout's engine on its own store, warmed; returns a function timing one round. */
async function side(dir: string): Promise<{ round: () => Promise<number>; close: () => Promise<void> }> {
  const at = (m: string): string => resolve(dir, 'src', m);
  const { SqlEngine } = (await import(at('sql/index.ts'))) as { SqlEngine: new (t: unknown, l: unknown) => EngineLike };
  const { openStore } = (await import(at('store/index.ts'))) as { openStore: (d: string, o: object) => Promise<{ close: () => Promise<void> }> };
  const { Trees } = (await import(at('tree/index.ts'))) as { Trees: new (a: unknown, b: unknown) => TreesLike };
  const data = mkdtempSync(join(tmpdir(), 'crisscross-sqlduel-'));
  temp.push(data);
  const store = await openStore(data, { logger: pino({ level: 'silent' }) });
  const trees = new Trees(store, store);
  const engine = new SqlEngine(trees, pino({ level: 'silent' }));
  const built = await engine.run(await trees.root(trees.emptyRoot), benchTable(rows), { write: true, ttl: 0 });
  const root = await trees.root(built.root);
  const stmt = (x: number): object => (mode === 'point'
    ? { sql: POINT_SQL, params: [x] }
    : { sql: RANGE_SQL, params: [x, x + 9] });
  const call = (i: number): Promise<unknown> => engine.run(root, Array.from({ length: per }, (_, j) => stmt(((i * per + j) * 7919) % rows)), { write: false, ttl: 0 });
  for (let i = 0; i < 3000 / per; i++) await call(i + 1000);
  return {
    round: async () => {
      const cpu = process.cpuUsage();
      for (let i = 0; i < count / per; i++) await call(i);
      const used = process.cpuUsage(cpu);
      return (used.user + used.system) / count;
    },
    close: () => store.close(),
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sides = [await side(dirA), await side(dirB)];
try {
  const times: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) for (let k = 0; k < 2; k++) times[k].push(await sides[k].round());
  [dirA, dirB].forEach((d, k) => console.log(`${k === 0 ? 'A' : 'B'} ${d} ${mode}: min ${Math.min(...times[k]).toFixed(1)}, median ${median(times[k]).toFixed(1)} µs of CPU per statement (rounds: ${times[k].map((t) => t.toFixed(1)).join(', ')})`));
  console.log(`B / A, median of the rounds' ratios: ${median(times[1].map((b, i) => b / times[0][i])).toFixed(3)}`);
} finally {
  for (const s of sides) await s.close();
  for (const d of temp) rmSync(d, { recursive: true, force: true });
}
