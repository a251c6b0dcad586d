import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeValue } from '../../src/codec/index.ts';
import { newCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { failure, sql } from '../sql/helpers.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

const ROWS = 20_000;

describe('REMOTE … SQLREAD', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let db: string;

  beforeAll(async () => {
    [a, b] = await startDaemons(2);
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    const fill = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
      INSERT INTO t SELECT i, 'name ' || i, i * 7 % 20011 FROM n`;
    db = (await sql(a.redis(), '', 'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, h INTEGER)', 'CREATE INDEX th ON t(h)', fill)).root;
    expect(await a.redis().call('ANNOUNCE', cluster.name, db, '-1')).toBe('OK');
  }, 120_000);
  afterAll(cleanupDaemons);

  const fetched = async (): Promise<number> => Number((await clusterInfo(b.redis(), cluster.name))?.blocks_fetched);
  const remoteRows = async (...stmt: string[]): Promise<unknown[][]> => {
    const reply = (await b.redis().callBuffer('REMOTENOLOCAL', cluster.name, '1', 'SQLREAD', db, ...stmt)) as Buffer[];
    return (decodeValue(reply[0]) as Map<string, unknown>).get('rows') as unknown[][];
  };

  it('answers a query on a database held only by a peer, fetching O(log n) blocks for a point lookup', async () => {
    expect(await failure(b.redis().call('SQLREAD', db, 'SELECT 1'))).toMatch(/^NOTFOUND|^MISSINGBLOCK/);
    // The first call waits until the announcement is found; it reads the database root and catalog.
    await poll(async () => (await remoteRows('SELECT 1')).length === 1 || undefined);
    const before = await fetched();
    expect(await remoteRows('SELECT name FROM t WHERE id = ?', 'PARAMS', '1', '12345')).toEqual([['name 12345']]);
    const point = (await fetched()) - before;
    const mid = await fetched();
    expect((await remoteRows('SELECT id FROM t WHERE h BETWEEN 700 AND 702')).sort()).toEqual([[100], [11535], [2959]]);
    const range = (await fetched()) - mid;
    const last = await fetched();
    expect(await remoteRows('SELECT count(*), sum(h) FROM t')).toEqual([[ROWS, expect.any(Number)]]);
    const scan = (await fetched()) - last;
    // A 20,000-row tree is a few levels deep: the lookup walks one path (plus the table's root), the scan every leaf.
    expect(point).toBeGreaterThan(0);
    expect(point).toBeLessThanOrEqual(8);
    expect(range).toBeLessThanOrEqual(16);
    expect(scan).toBeGreaterThan(20 * point);
  });

  it('refuses writes: REMOTE runs SQLREAD, not SQL', async () => {
    expect(await failure(b.redis().call('REMOTE', cluster.name, '1', 'SQLREAD', db, 'DELETE FROM t'))).toMatch(/^READONLY/);
    expect(await failure(b.redis().call('REMOTE', cluster.name, '1', 'SQL', db, '0', 'DELETE FROM t'))).toMatch(/^ERR REMOTE runs .*SQLREAD/);
  });
});
