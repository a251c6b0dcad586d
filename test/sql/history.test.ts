import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';
import { prng } from '../helpers/prng.ts';
import { sql } from './helpers.ts';

/**
 * History independence for SQL: whatever statements, order and batching produced a set of rows
 * (and schema, and indexes), the database root is the root of a bulk build of the final rows.
 */
let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

const TABLES = [`CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, n REAL)`, `CREATE TABLE m(x, y)`];
const INDEX = `CREATE INDEX tv ON t(v, n)`;
const V = ['a', 'b', 'c', null];
const lit = (v: string | number | null): string => (v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : String(v));

/** A random interleaving of several sequences, each kept in its own order. */
function interleave<T>(chains: T[][], rnd: () => number): T[] {
  const live = chains.map((c) => [...c]).filter((c) => c.length > 0);
  const out: T[] = [];
  while (live.length > 0) {
    const i = Math.floor(rnd() * live.length);
    out.push(live[i].shift() as T);
    if (live[i].length === 0) live.splice(i, 1);
  }
  return out;
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const row = fc.record({ v: fc.constantFrom(...V), n: fc.constantFrom(0.5, 1, 2.25, null) });
const state = fc.record({
  t: fc.dictionary(fc.integer({ min: 0, max: 40 }).map(String), row, { maxKeys: 25 }),
  m: fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom('p', 'q')), { maxLength: 12 }),
  noise: fc.array(fc.tuple(fc.integer({ min: 100, max: 120 }), row), { maxLength: 8 }),
  seed: fc.integer(),
});

describe('SQL history independence', () => {
  it('random orders, batches, updates and deletes give the root of a bulk build', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(state, async ({ t, m, noise, seed }) => {
        const rnd = prng(seed);
        const final = Object.entries(t).map(([k, r]) => ({ k: Number(k), ...r }));
        const bulk = [...TABLES, INDEX];
        if (final.length > 0) bulk.push(`INSERT INTO t VALUES ${final.map((r) => `(${r.k}, ${lit(r.v)}, ${lit(r.n)})`).join(', ')}`);
        if (m.length > 0) bulk.push(`INSERT INTO m VALUES ${m.map(([x, y]) => `(${x}, '${y}')`).join(', ')}`);
        const expected = (await sql(s.redis, '', ...bulk)).root;

        // Rows go in with wrong values first (fixed by UPDATE), noise rows come and go.
        const writes: string[][] = [];
        for (const r of final) {
          const early = rnd() < 0.5;
          const chain = [`INSERT INTO t VALUES(${r.k}, ${lit(early ? 'zz' : r.v)}, ${lit(r.n)})`];
          if (early) chain.push(`UPDATE t SET v = ${lit(r.v)} WHERE k = ${r.k}`);
          writes.push(chain);
        }
        const noiseKeys = new Set<number>();
        for (const [k, r] of noise) {
          if (noiseKeys.has(k) || t[String(k)] !== undefined) continue;
          noiseKeys.add(k);
          writes.push([`INSERT INTO t VALUES(${k}, ${lit(r.v)}, ${lit(r.n)})`]);
        }
        for (const [x, y] of m) writes.push([`INSERT INTO m VALUES(${x}, '${y}')`]);
        writes.push([`INSERT INTO m VALUES(9, 'noise'), (9, 'noise')`]);
        const ordered = interleave(writes, rnd);
        ordered.push(`DELETE FROM t WHERE k >= 100`, `DELETE FROM m WHERE x = 9`);
        // The index is created at a random point: before, among or after the rows.
        ordered.splice(Math.floor(rnd() * (ordered.length + 1)), 0, INDEX);
        let root = (await sql(s.redis, '', ...shuffle(TABLES, rnd))).root;
        while (ordered.length > 0) root = (await sql(s.redis, root, ...ordered.splice(0, 1 + Math.floor(rnd() * 6)))).root;
        expect(root).toBe(expected);
      }),
      { numRuns: 25 },
    );
  });
});
