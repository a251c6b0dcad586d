import { describe, expect, it } from 'vitest';
import { Float } from '../../src/codec/index.ts';
import { againstSqlite, rows } from './helpers.ts';

/**
 * Constraint push-down against SQLite itself: the same mixed-type rows (integers, integral and
 * fractional reals, text, blobs, NULL) and the same filters, on our trees and on a native table.
 * Loose tree bounds must never lose a row SQLite's comparison semantics would keep.
 */
const SETUP = [
  'CREATE TABLE m(k PRIMARY KEY, i INTEGER, r REAL, t TEXT, n NUMERIC, x)',
  'CREATE INDEX m_r ON m(r)',
  'CREATE INDEX m_t ON m(t)',
  'CREATE INDEX m_x ON m(x)',
  'CREATE INDEX m_in ON m(i, n)',
  `INSERT INTO m VALUES (1, 1, 1, 'a', 1, 1), (2, 2, 2.5, 'b', '2.0', 2.0), (3, '3', 5, '5', 'x', 'a'),
    (4.5, NULL, NULL, NULL, NULL, NULL), ('k', 5, 5.0, 'abc', 5.5, x'00ff'), (x'01', -1, -0.5, '', '-1', ''),
    (7, 7, 1e20, 7, 7, 7.5), (8, 8, 8, 'b', 8, 'b'), (9, 2, 2.5, 'a', 2, x'61'),
    (10, 9007199254740991, 9007199254740992.0, 'z', 9007199254740991, 1e16)`,
];
const CONSTANTS = ['NULL', '1', '2', '2.0', '2.5', '5', "'5'", "'a'", "'b'", "''", "x'61'", "x'00ff'", '-1', '1e20', "'2'", '8.0', '9007199254740991', '9007199254740992', '9007199254740992.0', '1e16'];
const COLUMNS = ['k', 'i', 'r', 't', 'n', 'x'];
const OPS = ['=', '<', '<=', '>', '>='];

const { redis, root, native } = againstSqlite(SETUP);

/**
 * node:sqlite gives a plain number for an integral real, ours a Float: numbers compare by value,
 * and every query selects typeof() beside the value so the storage class is compared too.
 */
function norm(v: unknown): string {
  if (v instanceof Float) return `n${v.value}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `n${v}`;
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`;
  return JSON.stringify(v);
}

describe('push-down agrees with SQLite', () => {
  it('for every column, operator and constant type', { timeout: 60_000 }, async () => {
    const queries: string[] = [];
    for (const c of COLUMNS) for (const op of OPS) for (const k of CONSTANTS) queries.push(`SELECT typeof(k) AS tk, k, typeof(${c}) AS tc FROM m WHERE ${c} ${op} ${k} ORDER BY 2`);
    for (const c of ['r', 't', 'x', 'k']) queries.push(`SELECT k FROM m WHERE ${c} BETWEEN 2 AND 'b' ORDER BY 1`, `SELECT k FROM m WHERE ${c} IN (1, 2.5, '5', x'61') ORDER BY 1`);
    queries.push(`SELECT k FROM m WHERE i = 2 AND n = 2 ORDER BY 1`, `SELECT k FROM m WHERE i = '2' AND n > 1 ORDER BY 1`);
    const failures: string[] = [];
    for (const q of queries) {
      const want = (native.prepare(q).all() as Array<Record<string, unknown>>).map((r) => Object.values(r).map(norm).join(','));
      const got = (await rows(redis(), root(), q)).map((r) => r.map(norm).join(','));
      if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${q}\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`);
    }
    expect(failures).toEqual([]);
  });

  it('stores values with SQLite\'s affinity', async () => {
    const q = 'SELECT k, typeof(k), i, typeof(i), r, typeof(r), t, typeof(t), n, typeof(n), x, typeof(x) FROM m ORDER BY k';
    const want = (native.prepare(q).all() as Array<Record<string, unknown>>).map((r) => Object.values(r).map(norm).join(','));
    expect((await rows(redis(), root(), q)).map((r) => r.map(norm).join(','))).toEqual(want);
  });
});
