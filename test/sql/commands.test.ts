import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Float } from '../../src/codec/index.ts';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';
import { failure, rows, sql, sqlRead } from './helpers.ts';

let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

const SCHEMA = `CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT DEFAULT 'dflt', c INTEGER NOT NULL DEFAULT 7, d REAL)`;

describe('SQL and SQLREAD', () => {
  it('creates, inserts with defaults and affinity, and queries', async () => {
    const { root, results } = await sql(
      s.redis, '', SCHEMA,
      `INSERT INTO t(a) VALUES(1)`,
      `INSERT INTO t(a, b, c, d) VALUES('2', 3, '4.0', 5), (NULL, 'x', 5, 0.5)`,
      `SELECT a, b, c, d, typeof(a), typeof(b), typeof(c), typeof(d) FROM t ORDER BY a`,
    );
    expect(root).toMatch(/^Qm/);
    expect(results.slice(0, 3).map((r) => r.get('changes'))).toEqual([0, 1, 2]);
    expect(results[3].get('columns')).toEqual(['a', 'b', 'c', 'd', 'typeof(a)', 'typeof(b)', 'typeof(c)', 'typeof(d)']);
    expect(results[3].get('rows')).toEqual([
      [1, 'dflt', 7, null, 'integer', 'text', 'integer', 'null'],
      [2, '3', 4, new Float(5), 'integer', 'text', 'integer', 'real'],
      [3, 'x', 5, 0.5, 'integer', 'text', 'integer', 'real'],
    ]);
  });

  it('updates and deletes with arbitrary WHERE, and leaves the old root as it was', async () => {
    const a = await sql(s.redis, '', SCHEMA, `INSERT INTO t(a, c) VALUES(1, 1), (2, 2), (3, 3), (4, 4)`);
    const b = await sql(s.redis, a.root, `UPDATE t SET b = 'odd' WHERE c % 2 = 1`, `DELETE FROM t WHERE a IN (SELECT max(a) FROM t)`);
    expect(b.results.map((r) => r.get('changes'))).toEqual([2, 1]);
    expect(await rows(s.redis, b.root, 'SELECT a, b FROM t ORDER BY a')).toEqual([[1, 'odd'], [2, 'dflt'], [3, 'odd']]);
    expect(await rows(s.redis, a.root, 'SELECT count(*) FROM t')).toEqual([[4]]);
  });

  it('runs the statements of one call atomically and names the failing one', async () => {
    const a = await sql(s.redis, '', SCHEMA, `INSERT INTO t(a) VALUES(1)`);
    const err = await failure(sql(s.redis, a.root, `INSERT INTO t(a) VALUES(2)`, `INSERT INTO t(a) VALUES(1)`, `INSERT INTO t(a) VALUES(3)`));
    expect(err).toBe('CONSTRAINT statement 2 (INSERT INTO t(a) VALUES(1)): UNIQUE constraint failed: t.a');
    expect(await rows(s.redis, a.root, 'SELECT a FROM t')).toEqual([[1]]);
    const again = await failure(sql(s.redis, a.root, `CREATE TABLE u(x)`, `INSERT INTO nope VALUES(1)`));
    expect(again).toMatch(/^SQL statement 2 .*no such table: nope/);
    expect(await failure(sqlRead(s.redis, a.root, 'SELECT * FROM u'))).toMatch(/no such table: u/);
  });

  it('enforces PRIMARY KEY, UNIQUE and NOT NULL with clear errors', async () => {
    const { root } = await sql(s.redis, '', `CREATE TABLE p(k TEXT PRIMARY KEY, u INTEGER UNIQUE, n TEXT NOT NULL)`, `INSERT INTO p VALUES('a', 1, 'x')`);
    expect(await failure(sql(s.redis, root, `INSERT INTO p VALUES('a', 2, 'y')`))).toMatch(/UNIQUE constraint failed: p.k$/);
    expect(await failure(sql(s.redis, root, `INSERT INTO p VALUES('b', 1, 'y')`))).toMatch(/^CONSTRAINT .*UNIQUE constraint failed: p.u$/);
    expect(await failure(sql(s.redis, root, `INSERT INTO p VALUES('b', 2, NULL)`))).toMatch(/NOT NULL constraint failed: p.n$/);
    expect(await failure(sql(s.redis, root, `UPDATE p SET n = NULL`))).toMatch(/NOT NULL constraint failed: p.n$/);
    expect(await failure(sql(s.redis, root, `CREATE UNIQUE INDEX pn ON p(n)`, `INSERT INTO p VALUES('b', 2, 'x')`))).toMatch(/UNIQUE constraint failed: p.n$/);
    const ok = await sql(s.redis, root, `INSERT INTO p VALUES('b', NULL, 'y'), ('c', NULL, 'z')`, `INSERT OR IGNORE INTO p VALUES('a', 9, 'q')`, `INSERT OR REPLACE INTO p VALUES('d', 1, 'w')`);
    expect(await rows(s.redis, ok.root, 'SELECT * FROM p ORDER BY k')).toEqual([['b', null, 'y'], ['c', null, 'z'], ['d', 1, 'w']]);
  });

  it('refuses writes in SQLREAD and statements trees cannot serve', async () => {
    const { root } = await sql(s.redis, '', `CREATE TABLE t(a)`);
    expect(await failure(sqlRead(s.redis, root, `INSERT INTO t VALUES(1)`))).toMatch(/^READONLY statement 1/);
    expect(await failure(sqlRead(s.redis, root, `DROP TABLE t`))).toMatch(/^READONLY/);
    expect(await failure(sql(s.redis, root, `BEGIN`))).toMatch(/^SQL .*one transaction/);
    expect(await failure(sql(s.redis, root, `PRAGMA writable_schema = 1`))).toMatch(/^SQL .*not supported/);
    expect(await failure(sql(s.redis, root, `ATTACH ':memory:' AS x`))).toMatch(/^SQL .*not supported/);
  });

  it('survives bad SQL of every kind', async () => {
    const { root } = await sql(s.redis, '', `CREATE TABLE t(a PRIMARY KEY, b)`, `INSERT INTO t VALUES(1, 2)`);
    const bad = ['SELEC 1', 'SELECT * FROM', "SELECT 'unterminated", 'CREATE TABLE t(a)', 'CREATE TABLE x(a CHECK (a > 0))', 'SELECT * FROM t WHERE a = (SELECT 1, 2)',
      'INSERT INTO t VALUES(1)', 'UPDATE t SET nope = 1', ')))', 'SELECT zeroblob(1e12)', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r WHERE n = 0 LIMIT 0',
      'CREATE INDEX i ON t(a + 1)', 'ALTER TABLE t DROP COLUMN b', 'DROP TABLE nope', 'CREATE VIEW v AS SELECT 1', "SELECT load_extension('x')"];
    for (const stmt of bad) await sql(s.redis, root, stmt).catch((e: Error) => expect(e.message).toMatch(/^(SQL|CONSTRAINT|ERR|TOOBIG) /));
    expect(await s.redis.ping()).toBe('PONG');
    expect(await rows(s.redis, root, 'SELECT * FROM t')).toEqual([[1, 2]]);
  });

  it('supports ALTER TABLE ADD COLUMN and RENAME, and indexes used by the planner', async () => {
    const a = await sql(s.redis, '', `CREATE TABLE t(a INTEGER PRIMARY KEY, b)`, `INSERT INTO t VALUES(1, 'x'), (2, 'y')`,
      `ALTER TABLE t ADD COLUMN c INTEGER DEFAULT 5`, `ALTER TABLE t RENAME COLUMN b TO bb`, `ALTER TABLE t RENAME TO u`, `CREATE INDEX ub ON u(bb)`);
    expect(await rows(s.redis, a.root, 'SELECT a, bb, c FROM u ORDER BY a')).toEqual([[1, 'x', 5], [2, 'y', 5]]);
    const plan = await rows(s.redis, a.root, `EXPLAIN QUERY PLAN SELECT a FROM u WHERE bb = 'y'`);
    expect(String(plan[0][3])).toMatch(/INDEX 2:/);
    expect(await rows(s.redis, a.root, `SELECT a FROM u WHERE bb = 'y'`)).toEqual([[2]]);
    expect(await rows(s.redis, a.root, `SELECT a FROM u WHERE bb > 'a' AND bb < 'xz'`)).toEqual([[1]]);
    // The same schema and rows reached directly give the same root: history independence.
    const b = await sql(s.redis, '', `CREATE TABLE u(a INTEGER PRIMARY KEY, bb, c INTEGER DEFAULT 5)`, `CREATE INDEX ub ON u(bb)`, `INSERT INTO u VALUES(2, 'y', 5), (1, 'x', 5)`);
    expect(b.root).toBe(a.root);
  });

  it('keeps rows of a table without a primary key as a multiset', async () => {
    const a = await sql(s.redis, '', `CREATE TABLE m(x, y)`, `INSERT INTO m VALUES(1, 2), (1, 2), (3, 4)`, `DELETE FROM m WHERE rowid IN (SELECT rowid FROM m WHERE x = 1 LIMIT 1)`);
    expect(await rows(s.redis, a.root, 'SELECT * FROM m ORDER BY x')).toEqual([[1, 2], [3, 4]]);
    const b = await sql(s.redis, '', `CREATE TABLE m(x, y)`, `INSERT INTO m VALUES(3, 4), (1, 2)`);
    expect(b.root).toBe(a.root);
  });

  it('joins, aggregates and compound selects', async () => {
    const { root } = await sql(s.redis, '', `CREATE TABLE a(id INTEGER PRIMARY KEY, v)`, `CREATE TABLE b(id INTEGER PRIMARY KEY, a_id, w)`,
      `INSERT INTO a VALUES(1, 'one'), (2, 'two')`, `INSERT INTO b VALUES(10, 1, 1.5), (11, 1, 2.5), (12, 2, 4)`);
    expect(await rows(s.redis, root, `SELECT a.v, sum(b.w), count(*) FROM a JOIN b ON b.a_id = a.id GROUP BY a.v HAVING count(*) > 1`)).toEqual([['one', new Float(4), 2]]);
    expect(await rows(s.redis, root, `SELECT id FROM a UNION SELECT a_id FROM b EXCEPT SELECT 2 ORDER BY 1`)).toEqual([[1]]);
  });

  it('serves concurrent calls from many clients, each on its own root', async () => {
    const { root } = await sql(s.redis, '', `CREATE TABLE t(a INTEGER PRIMARY KEY, b)`);
    const clients = Array.from({ length: 8 }, () => s.redis.duplicate());
    try {
      const outs = await Promise.all(clients.map((c, i) => sql(c, root, `INSERT INTO t VALUES(${i}, 'client ${i}')`, 'SELECT count(*) FROM t')));
      expect(outs.map((o) => o.results[1].get('rows'))).toEqual(clients.map(() => [[1]]));
      for (const [i, o] of outs.entries()) expect(await rows(s.redis, o.root, 'SELECT b FROM t')).toEqual([[`client ${i}`]]);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it('refuses a tree that is not a database, and an unknown root', async () => {
    const plain = (await s.redis.call('PUTMULTIBIN', '', '0', 'k', 'v')) as string;
    expect(await failure(sqlRead(s.redis, plain, 'SELECT 1'))).toMatch(/^BADVALUE not a SQL database/);
    expect(await failure(sqlRead(s.redis, 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVz', 'SELECT 1'))).toMatch(/^(NOTFOUND|BADID)/);
  });

  it('binds PARAMS to ? parameters, one prepared statement for many values', async () => {
    const a = await sql(s.redis, '', SCHEMA, 'INSERT INTO t(a, b, d) VALUES(?, ?, ?)', 'PARAMS', '3', '5', 'five', '2.5', `INSERT INTO t(a) VALUES(6)`);
    expect(a.results[1].get('changes')).toBe(1);
    const read = (q: string, ...params: string[]): Promise<Buffer[]> => s.redis.callBuffer('SQLREAD', a.root, q, 'PARAMS', String(params.length), ...params) as Promise<Buffer[]>;
    // Values arrive as text; the column's affinity makes '5' the integer key 5, as SQLite does.
    expect(await sqlRead(s.redis, a.root, 'SELECT b, d, typeof(a) FROM t WHERE a = ?', 'PARAMS', '1', '5', 'SELECT a FROM t WHERE a = ?', 'PARAMS', '1', '6', 'SELECT ?, typeof(?)', 'PARAMS', '2', 'x', 'y'))
      .toEqual([
        new Map<string, unknown>([['columns', ['b', 'd', 'typeof(a)']], ['rows', [['five', 2.5, 'integer']]]]),
        new Map<string, unknown>([['columns', ['a']], ['rows', [[6]]]]),
        new Map<string, unknown>([['columns', ['?', 'typeof(?)']], ['rows', [['x', 'text']]]]),
      ]);
    // A statement run with PARAMS and then without gets NULL, not the values of its last use.
    expect(await rows(s.redis, a.root, 'SELECT a FROM t WHERE a = ?')).toEqual([]);
    expect(await failure(read('SELECT ? + ?', '1'))).toMatch(/^SQL statement 1 \(SELECT \? \+ \?\): the statement has 2 parameters, PARAMS gave 1$/);
    expect(await failure(read('SELECT 1; SELECT ?', '1'))).toMatch(/^SQL PARAMS binds one statement; its argument holds 2/);
    expect(await failure(s.redis.call('SQLREAD', a.root, 'SELECT ?', 'PARAMS', '2', 'x'))).toMatch(/^ERR PARAMS needs a count n and then n values$/);
    expect(await failure(s.redis.call('SQLREAD', a.root, 'PARAMS', '0'))).toMatch(/^ERR PARAMS must follow a statement$/);
    expect(await rows(s.redis, a.root, 'SELECT count(*) FROM t')).toEqual([[2]]);
    // The token in any case; text beyond ASCII (a leading U+FEFF included) and NUL arrive whole.
    const odd = ['\uFEFFx', 'ünïcødé ✓', 'a\u0000b', ' 7 ', '-0', '+5', '0123'];
    const [r] = await sqlRead(s.redis, a.root, `SELECT ${odd.map(() => '?, length(?)').join(', ')}`, 'pArAmS', String(odd.length * 2), ...odd.flatMap((v) => [v, v]));
    expect(r.get('rows')).toEqual([odd.flatMap((v) => [v, v.split('\u0000')[0].length])]);
    expect(await sqlRead(s.redis, a.root, 'SELECT b FROM t WHERE a = ?', 'params', '1', '+5', 'SELECT b FROM t WHERE a = ?', 'PARAMS', '1', ' 5')).toEqual([
      new Map<string, unknown>([['columns', ['b']], ['rows', [['five']]]]),
      new Map<string, unknown>([['columns', ['b']], ['rows', [['five']]]]),
    ]);
    expect(await failure(s.redis.call('SQLREAD', a.root, 'SELECT 1', 'PARAMZ'))).toMatch(/^SQL statement 2 \(PARAMZ\)/);
  });

  it('reports its work in INFO sql', async () => {
    await sql(s.redis, '', 'SELECT 1', 'SELECT 2');
    const info = (await s.redis.call('INFO', 'sql')) as string;
    expect(info).toMatch(/^# Sql\r\n/);
    expect(Number(/sql_statements:(\d+)/.exec(info)?.[1])).toBeGreaterThanOrEqual(2);
    expect(info).toMatch(/sql_calls_failed:\d+/);
  });
});
