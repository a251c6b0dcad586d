import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Link, decodeValue, encodeValue } from '../../src/codec/index.ts';
import { BlockStore, FOREVER } from '../../src/store/blockstore.ts';
import { idToText } from '../../src/store/id.ts';
import { decodeLocation } from '../../src/store/segments.ts';
import { Trees } from '../../src/tree/index.ts';
import { put } from './helpers.ts';

const logger = pino({ level: 'silent' });
let dir: string;
let store: BlockStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-trees-'));
  store = await BlockStore.open(dir, logger);
});

afterEach(async () => {
  await store.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

async function reopen(): Promise<Trees> {
  await store.close();
  store = await BlockStore.open(dir, logger);
  return new Trees(store, store);
}

describe('Trees on LevelDB', () => {
  it('reads everything back from disk after a reopen, cold', async () => {
    let trees = new Trees(store, store);
    const muts = Array.from({ length: 3000 }, (_, i) => put(i, `v${i}`));
    const root = await trees.write(trees.emptyRoot, muts, -1);
    const next = await trees.write(root, [put(5, 'five'), put(9999, 'new')], -1);
    trees = await reopen();
    expect(decodeValue((await trees.get(root, encodeValue(5))) as Uint8Array)).toBe('v5');
    expect(decodeValue((await trees.get(next, encodeValue(5))) as Uint8Array)).toBe('five');
    const many = await trees.getMany(next, [encodeValue(1), encodeValue(-1), encodeValue(9999)]);
    expect(many.map((v) => v && decodeValue(v))).toEqual(['v1', undefined, 'new']);
    expect(await trees.has(next, encodeValue(2999))).toBe(true);
    const diffs = [];
    for await (const d of trees.diff(root, next)) diffs.push(decodeValue(d.key));
    expect(diffs).toEqual([5, 9999]);
    expect((await trees.stats(next)).count).toBe(3001);
    let n = 0;
    for await (const e of trees.range(next, { min: { key: encodeValue(100), inclusive: true }, max: { key: encodeValue(110), inclusive: false } })) {
      expect(decodeValue(e.key)).toBe(100 + n++);
    }
    expect(n).toBe(10);
  });

  it('pins the new root of every write (ttl) and PERSIST extends it', async () => {
    const trees = new Trees(store, store);
    const before = Date.now();
    const a = await trees.write(trees.emptyRoot, [put('k', 1)], 60_000);
    const pin = (await store.pinOf(a)) as number;
    expect(pin).toBeGreaterThanOrEqual(before + 60_000);
    await trees.persist(a, 1000);
    expect(await store.pinOf(a)).toBe(pin);
    await trees.persist(a, -1);
    expect(await store.pinOf(a)).toBe(FOREVER);
    const b = await trees.write(a, [put('k', 2)], 0);
    expect(await store.pinOf(b)).toBeUndefined();
    await expect(trees.write(a, [put('k', 3)], -5)).rejects.toMatchObject({ code: 'ERR' });
  });

  it('walks every node once, and the trees that values link to when asked', async () => {
    const trees = new Trees(store, store);
    const file = await trees.write(trees.emptyRoot, Array.from({ length: 500 }, (_, i) => put(i * 4096, new Uint8Array(64))), -1);
    const dirRoot = await trees.write(trees.emptyRoot, [put('a.bin', new Link(file)), put('nested', [new Link(file), 'x'])], -1);
    const plain: string[] = [];
    for await (const node of trees.walk(dirRoot)) plain.push(idToText(node.id));
    expect(plain).toEqual([idToText(dirRoot)]);
    const linked: string[] = [];
    for await (const node of trees.walk(dirRoot, { followLinks: true })) linked.push(idToText(node.id));
    const fileNodes: string[] = [];
    for await (const node of trees.walk(file)) fileNodes.push(idToText(node.id));
    expect(fileNodes.length).toBeGreaterThan(1);
    // The file is linked twice but walked once.
    expect(linked).toEqual([idToText(dirRoot), ...fileNodes]);
    expect((await trees.stats(file)).bytes).toBeGreaterThan(500 * 64);
  });

  it('refuses a corrupted block with BADBLOCK instead of using it', async () => {
    let trees = new Trees(store, store);
    const root = await trees.write(trees.emptyRoot, Array.from({ length: 2000 }, (_, i) => put(i, i)), -1);
    const rootNode = await trees.root(root);
    const victim = rootNode.child(0);
    await store.close();
    // The node's record lies in a segment file, where its index entry in LevelDB says.
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const at = decodeLocation(((await db.get(Buffer.concat([Buffer.from('n'), victim]))) as Buffer).subarray(0, 16));
    await db.close();
    const seg = await open(join(dir, 'segments', `${String(at.segment).padStart(8, '0')}.seg`), 'r+');
    const last = Buffer.alloc(1);
    await seg.read(last, 0, 1, at.offset + at.length - 1);
    last[0] ^= 1;
    await seg.write(last, 0, 1, at.offset + at.length - 1);
    await seg.close();
    store = await BlockStore.open(dir, logger);
    trees = new Trees(store, store);
    await expect(trees.get(root, encodeValue(0))).rejects.toMatchObject({ code: 'BADBLOCK' });
    expect(decodeValue((await trees.get(root, encodeValue(1999))) as Uint8Array)).toBe(1999);
  });
});
