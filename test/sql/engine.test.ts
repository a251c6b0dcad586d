import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlEngine } from '../../src/sql/index.ts';
import { type BlockStore, openStore } from '../../src/store/index.ts';
import { Trees } from '../../src/tree/index.ts';

let dir: string;
let store: BlockStore;
let trees: Trees;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-sql-'));
  store = await openStore(dir, { logger: pino({ level: 'silent' }) });
  trees = new Trees(store, store);
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('SqlEngine', () => {
  it('interrupts a statement that would never end, and serves the next call', async () => {
    const engine = new SqlEngine(trees, pino({ level: 'silent' }), { statementTimeoutMs: 200 });
    const empty = await trees.root(trees.emptyRoot);
    const forever = 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r';
    await expect(engine.run(empty, [forever], { write: false, ttl: 0 })).rejects.toThrow(/^statement 1 \(.*\): interrupted after 200 ms$/);
    const ok = await engine.run(empty, ['SELECT 1 + 1'], { write: false, ttl: 0 });
    expect(ok.results).toEqual([{ columns: ['1 + 1'], rows: [[2]] }]);
  });

  it('caps a string or blob at the codec\'s value limit', async () => {
    const engine = new SqlEngine(trees, pino({ level: 'silent' }));
    const empty = await trees.root(trees.emptyRoot);
    await expect(engine.run(empty, ['SELECT length(randomblob(100000000))'], { write: false, ttl: 0 })).rejects.toThrow(/too big/);
  });

  it('drops a table and its indexes, and DROP INDEX leaves the rows', async () => {
    const engine = new SqlEngine(trees, pino({ level: 'silent' }));
    const empty = await trees.root(trees.emptyRoot);
    const a = await engine.run(empty, ['CREATE TABLE t(a PRIMARY KEY, b)', 'CREATE INDEX tb ON t(b)', 'INSERT INTO t VALUES(1, 2)', 'CREATE TABLE u(x)'], { write: true, ttl: 0 });
    const b = await engine.run(await trees.root(a.root), ['DROP INDEX tb', 'DROP TABLE u'], { write: true, ttl: 0 });
    const c = await engine.run(empty, ['CREATE TABLE t(a PRIMARY KEY, b)', 'INSERT INTO t VALUES(1, 2)'], { write: true, ttl: 0 });
    expect(b.root).toEqual(c.root);
  });
});
