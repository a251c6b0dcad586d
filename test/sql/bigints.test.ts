import { describe, expect, it } from 'vitest';
import { Float } from '../../src/codec/index.ts';
import { againstSqlite, sqlRead } from './helpers.ts';

/**
 * Integers a JavaScript number cannot hold (beyond ±2^53, up to the int64 limits), against
 * SQLite itself: as primary keys, in an index and in a plain column, compared with integer and
 * real constants by every operator and BETWEEN, as literals and as PARAMS. A bound read through
 * a number rounds to a neighbour and loses the row at the edge.
 */
const BIG = [
  '9007199254740991', '9007199254740992', '9007199254740993', '9007199254740994', '9007199254740995',
  '-9007199254740991', '-9007199254740992', '-9007199254740993', '-9007199254740994',
  '9223372036854775807', '9223372036854775806', '9223372036854775805',
  '-9223372036854775808', '-9223372036854775807', '-9223372036854775806', '0', '1',
];
const REALS = ['9007199254740992.0', '9007199254740994.0', '-9007199254740992.0', '9.2233720368547758e18', '-9.2233720368547758e18', '1e19'];
const SETUP = [
  'CREATE TABLE big(k INTEGER PRIMARY KEY, i INTEGER, j INTEGER, n NUMERIC, x)',
  'CREATE INDEX big_i ON big(i)',
  'CREATE INDEX big_ni ON big(n, i)',
  'CREATE INDEX big_xn ON big(x, n)',
  `INSERT INTO big VALUES ${BIG.map((v, r) => `(${v}, ${v}, ${v}, ${r % 3}, ${v})`).join(', ')}`,
  // x has no affinity: 2^53 and 2^53.0 are two values there, equal to SQLite, two keys to the codec.
  `INSERT INTO big VALUES ${REALS.map((v, r) => `(${r + 100}, ${v}, ${v}, ${r % 3}, ${v})`).join(', ')}`,
];
const COLUMNS = ['k', 'i', 'j', 'x'];
const OPS = ['=', '<', '<=', '>', '>='];

const { redis, root, native } = againstSqlite(SETUP);

/** Our values: an integer is a number or a bigint, a real a number or (integral) a Float. */
function norm(v: unknown): string {
  if (v instanceof Float) return `r${v.value}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `i${v}` : `r${v}`;
  if (typeof v === 'bigint') return `i${v}`;
  return JSON.stringify(v);
}

/** node:sqlite's, reading big ints: every integer a bigint, every real a number. */
function normNative(v: unknown): string {
  if (typeof v === 'number') return `r${v}`;
  if (typeof v === 'bigint') return `i${v}`;
  return JSON.stringify(v);
}

/** SQLite's rows, every integer as a bigint (a number would round what this test is about). */
function want(q: string, params: string[] = []): string[] {
  const st = native.prepare(q);
  st.setReadBigInts(true);
  return (st.all(...params) as Array<Record<string, unknown>>).map((r) => Object.values(r).map(normNative).join(','));
}

async function got(q: string, params: string[] = []): Promise<string[]> {
  const args = params.length === 0 ? [q] : [q, 'PARAMS', String(params.length), ...params];
  const [r] = await sqlRead(redis(), root(), ...args);
  return (r.get('rows') as unknown[][]).map((row) => row.map(norm).join(','));
}

describe('integers beyond 2^53', () => {
  it('WHERE i <= 2^53 + 1 keeps the row holding 2^53 + 1', async () => {
    const q = 'SELECT k, i FROM big WHERE i <= 9007199254740993 AND i > 9007199254740000 ORDER BY k';
    expect(await got(q)).toEqual(want(q));
    expect(await got(q)).toContain('i9007199254740993,i9007199254740993');
  });

  it('agree with SQLite for every operator, BETWEEN and constant, on keys, indexes and plain columns', { timeout: 60_000 }, async () => {
    const constants = [...BIG, ...REALS];
    const queries: string[] = [];
    for (const c of COLUMNS) {
      // SQLite's rowid seek takes a real only when it converts to an integer, and -2^63.0 does
      // not (the comparison it stands for would match the row -2^63); k is no rowid here.
      for (const op of OPS) for (const k of constants) if (!(c === 'k' && op === '=' && k === '-9.2233720368547758e18')) queries.push(`SELECT k AS a, typeof(${c}) AS b, ${c} AS c FROM big WHERE ${c} ${op} ${k} ORDER BY k`);
      for (let a = 0; a < constants.length; a += 3) {
        const lo = constants[a];
        const hi = constants[(a + 4) % constants.length];
        queries.push(`SELECT k AS a, ${c} AS b FROM big WHERE ${c} BETWEEN ${lo} AND ${hi} ORDER BY k`, `SELECT k AS a, ${c} AS b FROM big WHERE ${c} BETWEEN ${hi} AND ${lo} ORDER BY k`);
      }
    }
    for (const k of constants) {
      queries.push(`SELECT k, n, i FROM big WHERE n = 1 AND i >= ${k} ORDER BY k`, `SELECT k, n, i FROM big WHERE n = 2 AND i < ${k} ORDER BY k`);
      queries.push(`SELECT k, x, n FROM big WHERE x = ${k} AND n >= 1 ORDER BY k`, `SELECT k, x, n FROM big WHERE x = ${k} AND n < 2 ORDER BY k`);
    }
    const failures: string[] = [];
    for (const q of queries) {
      const [w, g] = [want(q), await got(q)];
      if (JSON.stringify(g) !== JSON.stringify(w)) failures.push(`${q}\n  want ${JSON.stringify(w)}\n  got  ${JSON.stringify(g)}`);
    }
    expect(failures).toEqual([]);
  });

  it('agree with SQLite when the bounds come as PARAMS', async () => {
    const failures: string[] = [];
    for (const c of COLUMNS) {
      for (const [lo, hi] of [['9007199254740992', '9007199254740993'], ['-9007199254740993', '-9007199254740992'], ['9223372036854775806', '9223372036854775807'], ['-9223372036854775808', '-9223372036854775807']]) {
        for (const q of [`SELECT k AS a, ${c} AS b FROM big WHERE ${c} BETWEEN ? AND ? ORDER BY k`, `SELECT k AS a, ${c} AS b FROM big WHERE ${c} > ? AND ${c} <= ? ORDER BY k`]) {
          const [w, g] = [want(q, [lo, hi]), await got(q, [lo, hi])];
          if (JSON.stringify(g) !== JSON.stringify(w)) failures.push(`${q} [${lo}, ${hi}]\n  want ${JSON.stringify(w)}\n  got  ${JSON.stringify(g)}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('stores and returns them exactly', async () => {
    const q = 'SELECT k, typeof(k), i, typeof(i), j, typeof(j), n FROM big ORDER BY k';
    expect(await got(q)).toEqual(want(q));
  });
});
