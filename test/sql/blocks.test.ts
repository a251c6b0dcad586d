import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { rows, sql } from './helpers.ts';

afterAll(cleanupDaemons);

/** Blocks a daemon has read from its store since it started (its node cache starts cold). */
async function blocksRead(redis: Redis): Promise<number> {
  const info = (await redis.call('INFO', 'store')) as string;
  return Number(/tree_cache_misses:(\d+)/.exec(info)?.[1]);
}

describe('SQL reads only the blocks a query needs', { timeout: 120_000 }, () => {
  it('a primary-key lookup and an indexed range touch O(log n) blocks, a scan touches the table', async () => {
    const d = await startDaemon();
    const fill = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
      INSERT INTO t SELECT i, 'name ' || i, i % 1000, i * 7 % 20011 FROM n`;
    const { root } = await sql(d.redis(), '', `CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, g INTEGER, h INTEGER)`, `CREATE INDEX th ON t(h)`, fill);
    const queries: Array<[string, unknown[][], number]> = [
      ['SELECT name FROM t WHERE id = 12345', [['name 12345']], 8],
      ['SELECT id FROM t WHERE h BETWEEN 700 AND 702', [[100], [11535], [2959]], 16],
      ['SELECT count(*) FROM t WHERE g = 7', [[20]], 10_000],
    ];
    const reads: number[] = [];
    for (const [q, want] of queries) {
      await d.stop();
      await d.restart();
      const before = await blocksRead(d.redis());
      const got = await rows(d.redis(), root, q);
      expect(got.sort()).toEqual(want);
      reads.push((await blocksRead(d.redis())) - before);
    }
    expect(reads[0]).toBeLessThanOrEqual(queries[0][2]);
    expect(reads[1]).toBeLessThanOrEqual(queries[1][2]);
    // The scan reads every leaf of the row tree: the lookups above read a small fraction of it.
    expect(reads[2]).toBeGreaterThan(20 * reads[0]);
  });
});
