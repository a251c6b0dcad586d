import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, type TestDaemon } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';

let d: TestDaemon;
let env: Record<string, string>;

beforeAll(async () => {
  d = await startDaemon();
  env = daemonEnv(d);
});
afterAll(cleanupDaemons);

describe('crisscross sql and sql_read', { timeout: 60_000 }, () => {
  it('prints the new root, then readable tables; --json for machines', async () => {
    const r = await cli(['sql', '', 'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, x REAL)', "INSERT INTO t(name, x) VALUES('ada', 1), ('alan', NULL)", 'SELECT * FROM t'], { env });
    expect(r.stderr.toString()).toBe('');
    expect(r.code).toBe(0);
    const [root, ...rest] = r.stdout.toString().split('\n');
    expect(root).toMatch(/^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);
    expect(rest.join('\n')).toBe(
      ['', '(0 rows changed)', '', '(2 rows changed)', '', 'id | name | x', '---+------+-----', '1  | ada  | 1.0', '2  | alan | NULL', '(2 rows)', ''].join('\n'),
    );
    const j = await cli(['sql_read', root, 'SELECT name, x FROM t WHERE id = 1', '--json'], { env });
    expect(JSON.parse(j.stdout.toString())).toEqual({ results: [{ columns: ['name', 'x'], rows: [['ada', 1]] }] });
  });

  it('exits 3 with the daemon\'s error naming the statement', async () => {
    const r = await cli(['sql', '', 'CREATE TABLE t(a PRIMARY KEY)', 'INSERT INTO t VALUES(1), (1)'], { env });
    expect(r.code).toBe(3);
    expect(r.stderr.toString()).toContain('CONSTRAINT statement 2 (INSERT INTO t VALUES(1), (1)): UNIQUE constraint failed: t.a');
  });
});
