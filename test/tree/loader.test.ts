import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/codec/index.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import { type Id, idOf, idToText } from '../../src/store/id.ts';
import { Trees } from '../../src/tree/index.ts';
import { MissingBlockError } from '../../src/tree/loader.ts';
import type { TreeNode } from '../../src/tree/node.ts';
import { prng, put } from './helpers.ts';

const logger = pino({ level: 'silent' });
let dir: string;
let full: BlockStore;
let partial: BlockStore;
let root: Id;
let firstChild: Id;

/** One store holds a whole tree; the other only its root block, as a clone that stopped early would. */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-loader-'));
  full = await BlockStore.open(join(dir, 'full'), logger);
  partial = await BlockStore.open(join(dir, 'partial'), logger);
  const trees = new Trees(full, full);
  root = await trees.write(trees.emptyRoot, Array.from({ length: 2000 }, (_, i) => put(i, `v${i}`)), -1);
  const rootNode = await trees.root(root);
  expect(rootNode.level).toBeGreaterThan(0);
  firstChild = rootNode.child(0);
  await partial.commit({ blocks: [{ id: root, bytes: rootNode.bytes }] });
});

afterAll(async () => {
  await full.close();
  await partial.close();
  await rm(dir, { recursive: true, force: true });
});

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) void _;
}

describe('a missing block', () => {
  it('is a MissingBlockError carrying its id on every read path, not an unknown tree', async () => {
    const reads: Array<[string, (t: Trees) => Promise<unknown>]> = [
      ['get', (t) => t.get(root, encodeValue(0))],
      ['getMany', (t) => t.getMany(root, [encodeValue(0)])],
      ['range', (t) => drain(t.range(root))],
      ['diff', (t) => drain(t.diff(root, t.emptyRoot))],
      ['walk', (t) => drain(t.walk(root))],
      ['write', (t) => t.write(root, [put(0, 'x')], 0)],
    ];
    for (const [what, read] of reads) {
      const err = await read(new Trees(partial, partial)).then(() => undefined, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(MissingBlockError);
      expect((err as MissingBlockError).code, what).toBe('MISSINGBLOCK');
      expect(idToText((err as MissingBlockError).id), what).toBe(idToText(firstChild));
      expect((err as MissingBlockError).message, what).toContain(idToText(firstChild));
    }
  });

  it('as the root is an unknown tree: NOTFOUND, as before', async () => {
    const unknown = idOf(Buffer.from('no such tree'));
    const trees = new Trees(partial, partial);
    const reads: Array<() => unknown> = [() => trees.root(unknown), () => trees.get(unknown, encodeValue(0)), () => drain(trees.walk(unknown))];
    for (const read of reads) {
      const err = await Promise.resolve().then(read).then(() => undefined, (e: unknown) => e);
      expect(err).not.toBeInstanceOf(MissingBlockError);
      expect(err).toMatchObject({ code: 'NOTFOUND', message: `tree ${idToText(unknown)} not found` });
    }
  });

  it('is told apart per caller when a root read and a child read share one fetch', async () => {
    const trees = new Trees(partial, partial);
    await trees.root(root);
    const asRoot = Promise.resolve(trees.root(firstChild));
    const asChild = trees.get(root, encodeValue(0));
    await expect(asRoot).rejects.toMatchObject({ code: 'NOTFOUND' });
    await expect(asChild).rejects.toBeInstanceOf(MissingBlockError);
  });

  it('reads on once the block arrives: the error is not cached', async () => {
    const trees = new Trees(partial, partial);
    await expect(trees.get(root, encodeValue(0))).rejects.toBeInstanceOf(MissingBlockError);
    const subtree: Array<{ id: Id; bytes: Uint8Array }> = [];
    for await (const node of new Trees(full, full).walk(firstChild)) subtree.push({ id: node.id, bytes: node.bytes });
    await partial.commit({ blocks: subtree });
    expect(await trees.get(root, encodeValue(0))).toEqual(encodeValue('v0'));
  });
});

/** What the node cache counts for the whole tree under `id`. */
async function countedSize(id: Id): Promise<number> {
  const trees = new Trees(full, full);
  for await (const node of trees.walk(id)) expect(node.length).toBeGreaterThan(0);
  return trees.loader.cachedBytes;
}

describe('the node cache', () => {
  it('counts what a node holds beyond its bytes: its offsets, search words and objects', async () => {
    const trees = new Trees(full, full);
    const node = await trees.root(root);
    // An internal node: offsets, words, counts and sizes take 32 bytes an entry.
    expect(trees.loader.cachedBytes).toBeGreaterThanOrEqual(node.bytes.length + 32 * node.length);
    const leaf = await trees.loader.child(node.child(0));
    expect(trees.loader.cachedBytes).toBeGreaterThanOrEqual(node.bytes.length + leaf.bytes.length + 32 * node.length + 16 * leaf.length);
  });

  it('keeps a tree resident while reads keep reaching its nodes through their parents, however much else is cached after it', async () => {
    const size = await countedSize(root);
    const trees = new Trees(full, full, { cacheBytes: 8 * size });
    const ids: Id[] = [];
    for await (const node of trees.walk(root)) ids.push(node.id);
    const readAll = async (): Promise<void> => {
      const rootNode = await trees.root(root);
      for (let i = 0; i < 2000; i++) expect(trees.getSync(rootNode, encodeValue(i))).toEqual(encodeValue(`v${i}`));
    };
    await readAll();
    // Each round caches a tree about as big as this one: 40 rounds are five times the cache.
    for (let round = 0; round < 40; round++) {
      await trees.write(trees.emptyRoot, Array.from({ length: 2000 }, (_, i) => put(`r${round}-${i}`, i)), 0);
      await readAll();
    }
    expect(ids.filter((id) => trees.loader.peek(id) === undefined)).toEqual([]);
  }, 60_000);
  it('keeps a base tree resident under writes that fork it, however many nodes they create', async () => {
    const size = await countedSize(root);
    const trees = new Trees(full, full, { cacheBytes: 3 * size });
    const ids: Id[] = [];
    for await (const node of trees.walk(root)) ids.push(node.id);
    // Each write puts one key on the same base, as 50 clients sending one command do, and
    // nobody reads what they create: more than three times what the cache holds.
    const written = full.stats.bytesWritten;
    for (let i = 0; i < 600; i++) await trees.write(root, [put((i * 7919) % 2000, `w${i}`)], 0);
    expect(full.stats.bytesWritten - written).toBeGreaterThan(3 * 3 * size);
    expect(ids.filter((id) => trees.loader.peek(id) === undefined)).toEqual([]);
  }, 60_000);

  it('keeps what a forking write created once it is read, and drops the rest first', async () => {
    const size = await countedSize(root);
    const trees = new Trees(full, full, { cacheBytes: 3 * size });
    await trees.write(root, [put(1, 'first')], 0);
    const mine = await trees.write(root, [put(2, 'mine')], 0);
    const ids: Id[] = [];
    for await (const node of trees.walk(mine)) ids.push(node.id);
    const forked: Id[] = [];
    for (let i = 0; i < 600; i++) {
      const other = await trees.write(root, [put((i * 7919) % 2000, `w${i}`)], 0);
      if (i === 0) forked.push(other);
      expect(await trees.get(mine, encodeValue(2))).toEqual(encodeValue('mine'));
    }
    expect(ids.filter((id) => trees.loader.peek(id) === undefined)).toEqual([]);
    expect(trees.loader.peek(forked[0])).toBeUndefined();
  }, 60_000);

  it('keeps the live tree of a chain of random writes resident: the nodes they replace leave first', async () => {
    const size = await countedSize(root);
    const trees = new Trees(full, full, { cacheBytes: 2 * size });
    let tip = root;
    for await (const node of trees.walk(tip)) expect(node.length).toBeGreaterThan(0);
    const misses = trees.loader.misses;
    const random = prng(7);
    // Each write replaces about a quarter of the leaves: 120 writes create ~15 times what the
    // cache holds, and a leaf often goes many writes without one landing in it.
    const written = full.stats.bytesWritten;
    for (let w = 0; w < 120; w++) {
      tip = await trees.write(tip, Array.from({ length: 20 }, () => put(Math.floor(random() * 2000), `w${w}`)), 0);
    }
    expect(full.stats.bytesWritten - written).toBeGreaterThan(4 * size);
    expect(trees.loader.misses).toBe(misses);
  }, 60_000);

  it('links a parent to a child only while the cache holds the child: an evicted node is not kept alive by the nodes above it', async () => {
    const size = await countedSize(root);
    const trees = new Trees(full, full, { cacheBytes: 2 * size });
    const rootNode = await trees.root(root);
    expect(await trees.get(root, encodeValue(0))).toEqual(encodeValue('v0'));
    expect(trees.getSync(rootNode, encodeValue(0))).toEqual(encodeValue('v0'));
    const child = rootNode.knownChild(0) as TreeNode;
    expect(child.id).toEqual(firstChild);
    // Nodes cached after it, never reaching it: the child ages out of the cache.
    for (let round = 0; round < 8; round++) {
      await trees.write(trees.emptyRoot, Array.from({ length: 2000 }, (_, i) => put(`e${round}-${i}`, i)), 0);
    }
    expect(trees.loader.peek(firstChild)).toBeUndefined();
    expect(rootNode.knownChild(0)).toBeUndefined();
    // A node no cache holds is not linked to at all; read again, the child is cached and linked anew.
    rootNode.rememberChild(0, child);
    expect(rootNode.knownChild(0)).toBeUndefined();
    expect(await trees.get(root, encodeValue(0))).toEqual(encodeValue('v0'));
    expect(trees.getSync(rootNode, encodeValue(0))).toEqual(encodeValue('v0'));
    expect(rootNode.knownChild(0)?.id).toEqual(firstChild);
  }, 60_000);
});
