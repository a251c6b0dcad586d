import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link, encodeValue } from '../../src/codec/index.ts';
import { idOf, idToText } from '../../src/store/id.ts';
import { type TreeServer, startTreeServer, text } from './tree-server.ts';

const HELLO_ROOT = 'QmbTz9LGYAJ7JAuWP3qwmJ47S8q4zuoRYJFBVqRWWt8Jes';
const EMPTY_ROOT = 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj';

let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

const call = (...args: Array<string | Buffer | number>): Promise<unknown> => s.call(...args);

describe('tree commands', () => {
  it('runs the README transcript: PUTMULTIBIN then FETCHBIN', async () => {
    expect(text(await call('PUTMULTIBIN', '', -1, 'hello', 'world'))).toBe(HELLO_ROOT);
    expect(text(await call('FETCHBIN', HELLO_ROOT, 'hello'))).toBe('world');
    expect(await call('FETCHBIN', HELLO_ROOT, 'nope')).toBeNull();
    expect(text(await call('FETCHBIN', 'nil', 'hello'))).toBeNull();
  });

  it('accepts an id as raw multihash bytes', async () => {
    const raw = Buffer.from('1220' + '00'.repeat(32), 'hex');
    expect(text(await call('FETCHBIN', raw, 'x'))).toMatch(/^ERROR NOTFOUND/);
  });

  it('tells a tree held only in part (MISSINGBLOCK, with the id) from an unknown one', async () => {
    const absent = idOf(Buffer.from('a leaf this store never received'));
    // A valid level-1 root whose only child is not in the store.
    const root = encodeValue([1, 1, Buffer.from('k'), new Link(absent), 1, 20]);
    await s.store.commit({ blocks: [{ id: idOf(root), bytes: root }] });
    const rootText = idToText(idOf(root));
    expect(text(await call('KEYCOUNT', rootText))).toBe(1);
    expect(text(await call('FETCHBIN', rootText, 'k'))).toBe(`ERROR MISSINGBLOCK block ${idToText(absent)} is missing: the tree is stored here only in part`);
    expect(text(await call('FETCHBIN', idToText(absent), 'k'))).toBe(`ERROR NOTFOUND tree ${idToText(absent)} not found`);
  });

  it('typed and *BIN commands share one key space', async () => {
    const root = text(await call('PUTMULTIBIN', '', -1, 'k', 'v')) as string;
    const typedKey = pack(Buffer.from('k'));
    const v = await call('FETCH', root, typedKey);
    expect(Buffer.isBuffer(v) && Buffer.from(unpack(v as Buffer) as Uint8Array).toString()).toBe('v');
    const t2 = text(await call('PUTMULTI', root, -1, pack('n'), pack(42), pack([1, 2]), pack({ b: 1, a: 'x' }))) as string;
    expect(unpack((await call('FETCH', t2, pack('n'))) as Buffer)).toBe(42);
    expect(unpack((await call('FETCH', t2, pack([1, 2]))) as Buffer)).toEqual({ a: 'x', b: 1 });
    expect(text(await call('FETCHBIN', t2, 'k'))).toBe('v');
    expect(text(await call('HASKEY', t2, pack('n')))).toBe(1);
    expect(text(await call('HASKEYBIN', t2, 'n'))).toBe(0);
    expect(text(await call('FETCHBIN', root, 'k'))).toBe('v');
  });

  it('a *BIN read of a value that is not bytes or a string is WRONGTYPE', async () => {
    const root = text(await call('PUTMULTI', '', -1, pack(Buffer.from('n')), pack(7))) as string;
    expect(text(await call('FETCHBIN', root, 'n'))).toMatch(/^ERROR WRONGTYPE/);
    expect(text(await call('GETMULTIBIN', root, 'n', 'm'))).toMatch(/^ERROR WRONGTYPE/);
    expect(text(await call('PING'))).toBe('PONG');
  });

  it('GETMULTI, DELMULTI, KEYCOUNT, BYTESWRITTEN and PERSIST', async () => {
    const root = text(await call('PUTMULTIBIN', '', 60000, 'a', '1', 'b', '2', 'c', '3')) as string;
    expect(text(await call('GETMULTIBIN', root, 'c', 'x', 'a'))).toEqual(['3', null, '1']);
    const after = text(await call('DELMULTIBIN', root, -1, 'b', 'zz')) as string;
    expect(text(await call('GETMULTIBIN', after, 'a', 'b'))).toEqual(['1', null]);
    expect(await call('KEYCOUNT', root)).toBe(3);
    expect(await call('KEYCOUNT', after)).toBe(2);
    expect(await call('BYTESWRITTEN', after)).toBeGreaterThan(10);
    expect(text(await call('DELMULTIBIN', after, -1, 'nothing'))).toBe(after);
    expect(text(await call('PERSIST', root, -1))).toBe('OK');
    expect(text(await call('PERSIST', EMPTY_ROOT.replace('Qm', 'Qn'), -1))).toMatch(/^ERROR BADID/);
  });

  it('DIFF lists changed keys with both values', async () => {
    const a = text(await call('PUTMULTIBIN', '', -1, 'x', '1', 'y', '2')) as string;
    const b = text(await call('PUTMULTIBIN', a, -1, 'y', '3', 'z', '4')) as string;
    const d = (await call('DIFF', a, b)) as Buffer[][];
    const decode = (x: Buffer | null): unknown => (x === null ? null : Buffer.from(unpack(x) as Uint8Array).toString());
    expect(d.map((t) => t.map(decode))).toEqual([['y', '2', '3'], ['z', null, '4']]);
    expect(await call('DIFF', a, a)).toEqual([]);
  });

  it('errors write nothing', async () => {
    const before = s.store.stats.commits;
    expect(text(await call('PUTMULTIBIN', '', -1, 'a'))).toMatch(/^ERROR ERR wrong number of arguments for 'putmultibin'/);
    expect(text(await call('PUTMULTIBIN', '', -1, 'a', 'b', 'c'))).toMatch(/^ERROR ERR wrong number of arguments/);
    expect(text(await call('PUTMULTIBIN', 'notanid', -1, 'a', 'b'))).toMatch(/^ERROR BADID invalid tree id/);
    expect(text(await call('PUTMULTIBIN', EMPTY_ROOT.slice(0, -1) + 'X', -1, 'a', 'b'))).toMatch(/^ERROR (BADID|NOTFOUND)/);
    expect(text(await call('PUTMULTIBIN', HELLO_ROOT.slice(0, -2) + 'ab', -1, 'a', 'b'))).toMatch(/^ERROR (NOTFOUND|BADID)/);
    expect(text(await call('PUTMULTIBIN', '', 'soon', 'a', 'b'))).toMatch(/^ERROR ERR invalid TTL/);
    expect(text(await call('PUTMULTIBIN', '', -2, 'a', 'b'))).toMatch(/^ERROR ERR invalid TTL/);
    expect(text(await call('PUTMULTI', '', -1, pack('a'), Buffer.from([0xc1])))).toMatch(/^ERROR BADVALUE/);
    expect(text(await call('PUTMULTI', '', -1, Buffer.from([0xd9, 5, 0x61]), pack(1)))).toMatch(/^ERROR BADVALUE/);
    expect(text(await call('PUTMULTI', '', -1, pack('ok'), pack(1), pack('bad'), Buffer.from([0x92, 1])))).toMatch(/^ERROR BADVALUE/);
    expect(text(await call('NOSUCHCOMMAND', 'a'))).toMatch(/^ERROR ERR unknown command 'NOSUCHCOMMAND'/);
    expect(s.store.stats.commits).toBe(before);
  });

  it('answers a pipeline of 10,000 commands in order', async () => {
    // Every tenth command is a durable write; the rest read. Replies must match one for one.
    const p = s.redis.pipeline();
    for (let i = 0; i < 10000; i++) {
      if (i % 10 === 0) p.callBuffer('PUTMULTIBIN', HELLO_ROOT, '0', `k${i}`, `v${i}`);
      else p.callBuffer('FETCHBIN', HELLO_ROOT, i % 2 === 0 ? 'hello' : `k${i}`);
    }
    const replies = (await p.exec()) as Array<[Error | null, unknown]>;
    expect(replies).toHaveLength(10000);
    for (let i = 0; i < 10000; i++) {
      expect(replies[i][0]).toBeNull();
      if (i % 10 === 0) expect(text(replies[i][1])).toMatch(/^Qm/);
      else expect(text(replies[i][1])).toBe(i % 2 === 0 ? 'world' : null);
    }
    const last = text(replies[9990][1]) as string;
    expect(text(await call('FETCHBIN', last, 'k9990'))).toBe('v9990');
    expect(text(await call('FETCHBIN', last, 'hello'))).toBe('world');
  }, 60_000);
});

describe('iteration', () => {
  let root: string;
  beforeAll(async () => {
    const args: string[] = [];
    for (let i = 0; i < 250; i++) args.push(`key${String(i).padStart(3, '0')}`, `val${i}`);
    root = text(await call('PUTMULTIBIN', '', -1, ...args)) as string;
  });

  it('ITERSTART / ITERNEXT / ITERSTOP walk the range in order', async () => {
    expect(text(await call('ITERNEXT'))).toMatch(/^ERROR ERR no iterator/);
    expect(text(await call('ITERSTART', root, pack(Buffer.from('key010')), pack(Buffer.from('key020')), 1, 0, 0))).toBe('OK');
    const first = (await call('ITERNEXT', 3)) as Buffer[];
    expect(first.map((b) => Buffer.from(unpack(b) as Uint8Array).toString())).toEqual(['key010', 'val10', 'key011', 'val11', 'key012', 'val12']);
    const rest = (await call('ITERNEXT', 100)) as Buffer[];
    expect(rest).toHaveLength(14);
    expect(await call('ITERNEXT', 5)).toEqual([]);
    expect(text(await call('ITERSTOP'))).toBe('OK');
    expect(text(await call('ITERSTART', root, '', '', 1, 1, 1))).toBe('OK');
    const top = (await call('ITERNEXT')) as Buffer[];
    expect(Buffer.from(unpack(top[0]) as Uint8Array).toString()).toBe('key249');
  });

  it('SCANTREEBIN pages through everything with a stateless cursor', async () => {
    const keys: string[] = [];
    let cursor = '0';
    let pages = 0;
    do {
      const [next, items] = text(await call('SCANTREEBIN', root, cursor, 'COUNT', 40)) as [string, string[]];
      for (let i = 0; i < items.length; i += 2) keys.push(items[i]);
      cursor = next;
      pages++;
    } while (cursor !== '0' && pages < 100);
    expect(keys).toHaveLength(250);
    expect(keys[0]).toBe('key000');
    expect(keys[249]).toBe('key249');
    expect(pages).toBe(7);
  });

  it('SCANTREEBIN honours bounds and REV', async () => {
    const [next, items] = text(await call('SCANTREEBIN', root, '0', 'MIN', 'key100', 'MAX', 'key105', 'EXCLMIN', 'REV', 'COUNT', 100)) as [string, string[]];
    expect(next).toBe('0');
    expect(items.filter((_, i) => i % 2 === 0)).toEqual(['key105', 'key104', 'key103', 'key102', 'key101']);
    expect(text(await call('SCANTREEBIN', root, 'garbage!'))).toMatch(/^ERROR ERR invalid cursor/);
    expect(text(await call('SCANTREEBIN', root, '0', 'COUNT'))).toMatch(/^ERROR ERR syntax error/);
  });
});

describe('variables', () => {
  it('VARSET / VARGET / VARDELETE, ^name and VARWITH', async () => {
    expect(text(await call('VARSET', 'app', HELLO_ROOT))).toBe('OK');
    expect(text(await call('VARGET', 'app'))).toBe(HELLO_ROOT);
    expect(text(await call('FETCHBIN', '^app', 'hello'))).toBe('world');
    expect(text(await call('VARWITH', 'app', 'FETCHBIN', 'hello'))).toBe('world');
    expect(text(await call('VARWITH', 'app', 'PING'))).toMatch(/^ERROR ERR VARWITH cannot run/);
    expect(text(await call('FETCHBIN', '^nobody', 'hello'))).toMatch(/^ERROR NOTFOUND variable 'nobody'/);
    expect(await call('VARDELETE', 'app')).toBe(1);
    expect(await call('VARDELETE', 'app')).toBe(0);
    expect(await call('VARGET', 'app')).toBeNull();
  });

  it('compare-and-set never loses an update', async () => {
    expect(text(await call('VARSET', 'cas', 'v1', 'NX'))).toBe('OK');
    expect(await call('VARSET', 'cas', 'v2', 'NX')).toBeNull();
    expect(text(await call('VARSET', 'cas', 'v2', 'IF', 'v1'))).toBe('OK');
    expect(await call('VARSET', 'cas', 'v3', 'IF', 'v1')).toBeNull();
    expect(text(await call('VARGET', 'cas'))).toBe('v2');
    // Two clients race from the same value: exactly one wins.
    const other = s.redis.duplicate();
    const a = s.redis.callBuffer('VARSET', 'cas', 'a', 'IF', 'v2');
    const b = other.callBuffer('VARSET', 'cas', 'b', 'IF', 'v2');
    const results = (await Promise.all([a, b])).map(text);
    other.disconnect();
    expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    expect(results.filter((r) => r === null)).toHaveLength(1);
  });
});

describe('INFO', () => {
  it('has a store section with the tree cache', async () => {
    const info = text(await call('INFO', 'store')) as string;
    expect(info).toMatch(/# Store/i);
    expect(info).toMatch(/store_commits:\d+/);
    expect(info).toMatch(/tree_cache_bytes:\d+/);
  });
});

describe('FETCHBIN on a tree mostly outside the node cache', () => {
  it('answers every key, of every length around the 255 bytes a short key is encoded in place for, while the reads before it wait for the store', async () => {
    const small = await startTreeServer({ cacheBytes: 32 * 1024 });
    try {
      const keys = Array.from({ length: 1200 }, (_, i) => Buffer.from(`${String(i).padStart(5, '0')}:`.padEnd([0, 1, 2, 200, 254, 255, 256, 300][i % 8] + 6, 'k')));
      let root = '';
      for (let from = 0; from < keys.length; from += 200) {
        const args = keys.slice(from, from + 200).flatMap((k, j) => [k, `v${from + j}`]);
        root = text(await small.call('PUTMULTIBIN', root, '-1', ...args)) as string;
      }
      // Pipelined: a read that misses the cache waits, and the reads behind it start meanwhile.
      const pipeline = small.redis.pipeline();
      for (let round = 0; round < 2; round++) for (const k of keys) pipeline.callBuffer('FETCHBIN', root, k);
      pipeline.callBuffer('FETCHBIN', root, Buffer.from('absent'));
      const replies = (await pipeline.exec()) ?? [];
      expect(replies.map(([err, v]) => (err === null ? text(v) : String(err)))).toEqual([...keys.map((_, i) => `v${i}`), ...keys.map((_, i) => `v${i}`), null]);
    } finally {
      await small.close();
    }
  }, 60_000);
});
