import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SqlResult, SqlEngine } from '../../src/sql/index.ts';
import { type BlockStore, openStore } from '../../src/store/index.ts';
import type { Id } from '../../src/store/id.ts';
import { Trees } from '../../src/tree/index.ts';

const silent = pino({ level: 'silent' });
let dir: string;
let store: BlockStore;
let root: Id;

const ROWS = 3000;

/** A fresh store handle and engine: nothing of the table is cached. */
async function cold(): Promise<{ engine: SqlEngine; trees: Trees }> {
  await store.close();
  store = await openStore(dir, { logger: silent });
  const trees = new Trees(store, store);
  return { engine: new SqlEngine(trees, silent), trees };
}

function counter(engine: SqlEngine, name: string): number {
  return engine.info().find(([k]) => k === name)?.[1] ?? NaN;
}

async function read(engine: SqlEngine, trees: Trees, sql: string, params?: number[]): Promise<SqlResult> {
  const { results } = await engine.run(await trees.root(root), [params === undefined ? sql : { sql, params }], { write: false, ttl: 0 });
  return results[0];
}

/** The same statement inside a write call, which always runs on the Asyncify build. */
async function readInWrite(engine: SqlEngine, trees: Trees, sql: string, params?: number[]): Promise<SqlResult> {
  const { results } = await engine.run(await trees.root(root), [params === undefined ? sql : { sql, params }], { write: true, ttl: 0 });
  return results[0];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-sql-builds-'));
  store = await openStore(dir, { logger: silent });
  const trees = new Trees(store, store);
  const engine = new SqlEngine(trees, silent);
  const fill = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
    INSERT INTO t SELECT i, i % 100, i / 4.0, 'name ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE x'00ff' END FROM n`;
  const built = await engine.run(await trees.root(trees.emptyRoot), ['CREATE TABLE t(id INTEGER PRIMARY KEY, g INTEGER, v REAL, name TEXT, b BLOB)', 'CREATE INDEX tg ON t(g)', fill], { write: true, ttl: -1 });
  root = built.root;
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('read-only statements on the synchronous build', { timeout: 60_000 }, () => {
  it('a cold point lookup and a cold indexed range read their blocks, then run synchronously', async () => {
    const { engine, trees } = await cold();
    expect(await read(engine, trees, 'SELECT name, v FROM t WHERE id = ?', [1234])).toEqual({ columns: ['name', 'v'], rows: [['name 1234', 308.5]] });
    expect(counter(engine, 'sql_sync_retries')).toBeGreaterThan(0);
    expect(counter(engine, 'sql_async_statements')).toBe(0);
    const range = await read(engine, trees, 'SELECT count(*), sum(id) FROM t WHERE g BETWEEN ? AND ?', [7, 8]);
    expect(range).toEqual({ columns: ['count(*)', 'sum(id)'], rows: [[60, 30 * 7 + 30 * 8 + 100 * (29 * 30)]] });
    const retries = counter(engine, 'sql_sync_retries');
    // Warm now: the same reads run once each, without another try.
    await read(engine, trees, 'SELECT name, v FROM t WHERE id = ?', [1234]);
    await read(engine, trees, 'SELECT count(*), sum(id) FROM t WHERE g BETWEEN ? AND ?', [7, 8]);
    expect(counter(engine, 'sql_sync_retries')).toBe(retries);
    expect(counter(engine, 'sql_sync_statements')).toBe(4);
  });

  it('a range too long to read synchronously runs on the Asyncify build, and its text goes there directly next time', async () => {
    const { engine, trees } = await cold();
    const q = 'SELECT count(*), sum(g), max(name) FROM t WHERE id BETWEEN ? AND ?';
    const want = { columns: ['count(*)', 'sum(g)', 'max(name)'], rows: [[2001, 99_000, 'name 999']] };
    expect(await read(engine, trees, q, [500, 2500])).toEqual(want);
    expect(counter(engine, 'sql_async_statements')).toBe(1);
    const tries = counter(engine, 'sql_sync_retries') + counter(engine, 'sql_sync_statements');
    expect(await read(engine, trees, q, [500, 2500])).toEqual(want);
    expect(counter(engine, 'sql_async_statements')).toBe(2);
    expect(counter(engine, 'sql_sync_retries') + counter(engine, 'sql_sync_statements')).toBe(tries);
    // A full scan of the table, and a join of it with itself, also answer right from there.
    expect(await read(engine, trees, 'SELECT count(*), count(b), sum(id) FROM t')).toEqual({ columns: ['count(*)', 'count(b)', 'sum(id)'], rows: [[ROWS, 2000, (ROWS * (ROWS + 1)) / 2]] });
    expect(await read(engine, trees, 'SELECT count(*) FROM t a JOIN t b ON a.g = b.id WHERE a.id <= 300')).toEqual({ columns: ['count(*)'], rows: [[297]] });
  });

  it('reads only the columns a statement uses, and gives what the Asyncify build gives', async () => {
    const { engine, trees } = await cold();
    const queries: Array<[string, number[]?]> = [
      ['SELECT * FROM t WHERE id = ?', [3]],
      ['SELECT b FROM t WHERE id = ?', [4]],
      ['SELECT name, id FROM t WHERE g = ? ORDER BY id LIMIT 3', [5]],
      ['SELECT v, b, name FROM t WHERE g BETWEEN ? AND ? ORDER BY id DESC LIMIT 4', [10, 12]],
      ['SELECT a.name, (SELECT count(*) FROM t c WHERE c.g = a.g AND c.b IS NULL) FROM t a WHERE a.id IN (?, ?, ?)', [1, 2, 3]],
      ['SELECT g, count(*), min(b), max(v) FROM t WHERE id < ? GROUP BY g ORDER BY g LIMIT 5', [400]],
    ];
    for (const [q, params] of queries) {
      const fast = await read(engine, trees, q, params);
      expect(fast).toEqual(await readInWrite(engine, trees, q, params));
      expect('rows' in fast && fast.rows.length).toBeGreaterThan(0);
    }
    expect(await read(engine, trees, 'SELECT b FROM t WHERE id = ?', [4])).toEqual({ columns: ['b'], rows: [[new Uint8Array([0, 255])]] });
  });
});
