/**
 * bench/sql.ts's table built in one call, for the SQL benches that time reads: `rows` rows of
 * t(id INTEGER PRIMARY KEY, g, v, name, b_id) with an index on g, `g = id · 7919 mod rows`, so an
 * index range of g holds rows of scattered ids.
 */
export function benchTable(rows: number): string[] {
  return [
    'CREATE TABLE t(id INTEGER PRIMARY KEY, g INTEGER, v REAL, name TEXT, b_id INTEGER)',
    'CREATE INDEX t_g ON t(g)',
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows - 1})
     INSERT INTO t SELECT i, (i * 7919) % ${rows}, (i % 1000) / 8.0, 'name ' || i, i % 1000 FROM n`,
  ];
}

/** The batched statements the read benches time: a primary-key lookup, or an indexed range of about ten rows. */
export const POINT_SQL = 'SELECT name, v FROM t WHERE id = ?';
export const RANGE_SQL = 'SELECT count(*), sum(v) FROM t WHERE g BETWEEN ? AND ?';
