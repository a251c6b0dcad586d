import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startDaemon } from './serve.ts';
import { POINT_SQL, RANGE_SQL, benchTable } from './sql-table.ts';

/**
 * The daemon's CPU per batched SQL read: starts `crisscross serve`, builds bench/sql.ts's table
 * in one call, then times SQL_CPU_LOOKUPS (20,000) point lookups and a quarter as many indexed
 * ranges, 100 per SQLREAD call after 2,000 warm ones, against the daemon's utime + stime from
 * /proc (ten times more operations than bench/sql.ts, so its 10 ms ticks weigh less). Prints
 * µs per operation (wall, daemon CPU, this client's CPU) and the daemon's `INFO sql`.
 *
 *   node bench/sql-cpu.ts
 */
const rows = Number(process.env.SQL_BENCH_ROWS ?? 100_000);
const lookups = Number(process.env.SQL_CPU_LOOKUPS ?? 20_000);
/** /proc/<pid>/stat counts CPU time in clock ticks: 100 per second on Linux. */
const CLOCK_TICKS = 100;

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}

const dir = mkdtempSync(join(tmpdir(), 'crisscross-sqlcpu-'));
const d = await startDaemon(dir);
const redis = new Redis({ port: d.port, host: '127.0.0.1' });
try {
  const built = (await redis.callBuffer('SQL', '', '-1', ...benchTable(rows))) as Buffer[];
  const root = built[0].toString();
  const point = (x: number): string[] => [POINT_SQL, 'PARAMS', '1', String(x)];
  const range = (x: number): string[] => [RANGE_SQL, 'PARAMS', '2', String(x), String(x + 9)];
  for (const [name, args, n] of [['point', point, lookups], ['range', range, lookups / 4]] as const) {
    const call = (from: number): Promise<unknown> => redis.callBuffer('SQLREAD', root, ...Array.from({ length: 100 }, (_, j) => args(((from + j) * 7919 * 13) % rows)).flat());
    for (let i = 0; i < 2000; i += 100) await call(i + 1_000_000);
    const daemon = cpuMs(d.pid);
    const client = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < n; i += 100) await call(i);
    const ms = performance.now() - start;
    const used = process.cpuUsage(client);
    console.log(`${name}, 100 per call: ${((ms * 1000) / n).toFixed(1)} µs/op wall, daemon ${(((cpuMs(d.pid) - daemon) * 1000) / n).toFixed(1)} µs/op CPU, client ${((used.user + used.system) / n).toFixed(1)} µs/op CPU`);
  }
  console.log(((await redis.call('INFO', 'sql')) as string).trim());
} finally {
  redis.disconnect();
  await d.close();
  rmSync(dir, { recursive: true, force: true });
}
