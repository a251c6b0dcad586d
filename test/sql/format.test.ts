import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Float, Link, type Value, decodeValue, encodeValue } from '../../src/codec/index.ts';
import { encodeResult } from '../../src/sql/index.ts';
import { idToText } from '../../src/store/id.ts';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';
import { sql } from './helpers.ts';

/** The golden vector of docs/format.md §14: a database's bytes must never drift. */
let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

async function entries(id: string): Promise<string[]> {
  const [, flat] = (await s.redis.callBuffer('SCANTREE', id, '0')) as [Buffer, Buffer[]];
  return flat.map((b) => b.toString('hex'));
}

describe('SQL on-tree format', () => {
  it('writes a result as the canonical map of its columns and rows', () => {
    const results = [
      { columns: [], rows: [] },
      { columns: ['name', 'v'], rows: [['name 1', 1.5], [null, new Float(2)]] },
      { columns: ['a', 'b', 'c'], rows: [[2n ** 63n - 1n, new Uint8Array([0, 255]), 'é']] },
      { columns: Array.from({ length: 20 }, (_, i) => `c${i}`), rows: Array.from({ length: 300 }, (_, i) => Array.from({ length: 20 }, (_, j) => i * j)) },
    ];
    for (const r of results) {
      expect(Buffer.from(encodeResult(r))).toEqual(Buffer.from(encodeValue(new Map<Value, Value>([['columns', r.columns], ['rows', r.rows]]))));
    }
    expect(Buffer.from(encodeResult({ changes: 3 }))).toEqual(Buffer.from(encodeValue(new Map<Value, Value>([['changes', 3]]))));
  });

  it('pins the golden database', async () => {
    const { root } = await sql(
      s.redis, '',
      `CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL DEFAULT 0)`,
      `CREATE INDEX t_name ON t(name)`,
      `INSERT INTO t VALUES (1, 'ada', 1.5), (2, 'alan', NULL)`,
      `CREATE TABLE tags(tag, n INTEGER)`,
      `INSERT INTO tags VALUES('x', 1), ('x', 1)`,
    );
    expect(root).toBe('QmeNpMjvBXSqZGpmWXx6QL712S4EXAFiU7DXMGyLvi3a12');
    const top = await entries(root);
    expect(top.filter((_, i) => i % 2 === 0)).toEqual(['a174', 'a474616773']);
    const t = decodeValue(Buffer.from(top[1], 'hex')) as Map<string, unknown>;
    expect(t.get('columns')).toEqual([['id', 'INTEGER', false, null], ['name', 'TEXT', true, null], ['score', 'REAL', false, '0']]);
    expect(t.get('key')).toEqual(['id']);
    const rows = idToText((t.get('rows') as Link).id);
    expect(rows).toBe('QmcuCQJxyqBgUCtq8ZWuqmh5mA7ufyKVhEzURKPMz3TAP4');
    expect(await entries(rows)).toEqual(['01', '92a3616461cb3ff8000000000000', '02', '91a4616c616e']);
    const [ix] = t.get('indexes') as Array<[string, string[], boolean, Link]>;
    expect(ix.slice(0, 3)).toEqual(['t_name', ['name'], false]);
    expect(await entries(idToText(ix[3].id))).toEqual(['c7060292a361646101', 'c0', 'c7070292a4616c616e02', 'c0']);
    const tags = decodeValue(Buffer.from(top[3], 'hex')) as Map<string, unknown>;
    expect(await entries(idToText((tags.get('rows') as Link).id))).toEqual(['d60292a17801', '02']);
  });
});
