import { mkdtemp, rm, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeBytes, encodeValue } from '../../src/codec/index.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import { idOf } from '../../src/store/id.ts';
import { INLINE_MAX, REF_BYTES, blobRef, isRef, refLength } from '../../src/tree/blob.ts';
import { Trees } from '../../src/tree/index.ts';
import { TreeNode } from '../../src/tree/node.ts';
import { prng, put } from './helpers.ts';

const logger = pino({ level: 'silent' });
let dir: string;
let store: BlockStore;
let trees: Trees;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-blob-'));
  store = await BlockStore.open(dir, logger);
  trees = new Trees(store, store);
});

afterEach(async () => {
  await store.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

/** A bytes value whose canonical encoding is exactly `n` bytes. */
function bytesOfEncodedLength(n: number, seed = 1): Uint8Array {
  const header = n - 2 <= 0xff ? 2 : n - 3 <= 0xffff ? 3 : 5;
  const rand = prng(seed);
  const v = encodeBytes(Buffer.from(Array.from({ length: n - header }, () => Math.floor(rand() * 256))));
  expect(v.length).toBe(n);
  return v;
}

describe('large values as blobs', () => {
  it('keeps a value of INLINE_MAX encoded bytes inline and moves one byte more to its own block', async () => {
    const inline = bytesOfEncodedLength(INLINE_MAX);
    const big = bytesOfEncodedLength(INLINE_MAX + 1);
    const root = await trees.write(trees.emptyRoot, [{ key: encodeValue('a'), val: inline }, { key: encodeValue('b'), val: big }], -1);
    const leaf = await trees.root(root);
    expect(isRef(leaf.val(0))).toBe(false);
    expect(isRef(leaf.val(1))).toBe(true);
    expect(leaf.val(1).length).toBe(REF_BYTES);
    expect(Buffer.from(leaf.bytes).includes(Buffer.from(big))).toBe(false);
    // Every read path returns the value itself, not its reference.
    expect(Buffer.from((await trees.get(root, encodeValue('b'))) as Uint8Array).equals(Buffer.from(big))).toBe(true);
    const many = await trees.getMany(root, [encodeValue('b'), encodeValue('a')]);
    expect(Buffer.from(many[0] as Uint8Array).equals(Buffer.from(big))).toBe(true);
    const ranged = [];
    for await (const e of trees.range(root)) ranged.push(e.val.length);
    expect(ranged).toEqual([INLINE_MAX, INLINE_MAX + 1]);
    const diffs = [];
    for await (const d of trees.diff(trees.emptyRoot, root)) diffs.push((d.after as Uint8Array).length);
    expect(diffs).toEqual([INLINE_MAX, INLINE_MAX + 1]);
    // The tree's size counts the blob: what storing or cloning it costs.
    expect(leaf.size).toBe(leaf.bytes.length + INLINE_MAX + 1);
  });

  it('gives the same root whether a large value arrives first, last or replaced', async () => {
    const big = bytesOfEncodedLength(100_000, 7);
    const a = await trees.write(trees.emptyRoot, [{ key: encodeValue(1), val: big }, put(2, 'x')], 0);
    const b0 = await trees.write(trees.emptyRoot, [put(2, 'x'), put(1, 'small first')], 0);
    const b = await trees.write(b0, [{ key: encodeValue(1), val: big }], 0);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(decodeValue((await trees.get(b0, encodeValue(1))) as Uint8Array)).toBe('small first');
  });

  it('reads blobs back from segment files after a reopen', async () => {
    const values = Array.from({ length: 20 }, (_, i) => bytesOfEncodedLength(2000 + i * 5000, i));
    const root = await trees.write(trees.emptyRoot, values.map((v, i) => ({ key: encodeValue(i), val: v })), -1);
    await store.close();
    store = await BlockStore.open(dir, logger);
    trees = new Trees(store, store);
    for (let i = 0; i < values.length; i++) {
      expect(Buffer.from((await trees.get(root, encodeValue(i))) as Uint8Array).equals(Buffer.from(values[i]))).toBe(true);
    }
  });

  it('rejects a blob whose bytes on disk were changed', async () => {
    const big = bytesOfEncodedLength(5000, 3);
    const root = await trees.write(trees.emptyRoot, [{ key: encodeValue('k'), val: big }], -1);
    await store.close();
    const segDir = join(dir, 'segments');
    const [seg] = await readdir(segDir);
    const bytes = await readFile(join(segDir, seg));
    // Inside the blob: the segment ends with the write's commit record (docs/format.md §8.2).
    bytes[bytes.indexOf(Buffer.from(big).subarray(-40)) + 20] ^= 0xff;
    await writeFile(join(segDir, seg), bytes);
    store = await BlockStore.open(dir, logger);
    trees = new Trees(store, store);
    await expect(trees.get(root, encodeValue('k'))).rejects.toMatchObject({ code: 'BADBLOCK' });
  });

  it('refuses leaves that keep a large value inline or reference a small one', () => {
    // Hand-built leaves [1, 0, key, value]: 0x94 0x01 0x00 …
    const big = bytesOfEncodedLength(INLINE_MAX + 1);
    const inlineLeaf = Buffer.concat([Buffer.from([0x94, 1, 0]), encodeValue('k'), big]);
    expect(() => TreeNode.parse(idOf(inlineLeaf), inlineLeaf)).toThrow(/too large to be inline/);
    const small = bytesOfEncodedLength(INLINE_MAX);
    const refLeaf = Buffer.concat([Buffer.from([0x94, 1, 0]), encodeValue('k'), blobRef(idOf(small), small)]);
    expect(() => TreeNode.parse(idOf(refLeaf), refLeaf)).toThrow(/must be inline/);
    const okLeaf = Buffer.concat([Buffer.from([0x94, 1, 0]), encodeValue('k'), blobRef(idOf(big), big)]);
    const node = TreeNode.parse(idOf(okLeaf), okLeaf);
    expect(refLength(node.val(0))).toBe(big.length);
    // A non-canonical leaf header stays refused even though leaves skip the whole-node pass.
    const longHeader = Buffer.concat([Buffer.from([0xdc, 0, 4, 1, 0]), encodeValue('k'), encodeValue(1)]);
    expect(() => TreeNode.parse(idOf(longHeader), longHeader)).toThrow(/shortest form/);
  });

  it('never lets a client send a blob reference as a value', async () => {
    const big = bytesOfEncodedLength(5000);
    const { canonicalize } = await import('../../src/codec/index.ts');
    expect(() => canonicalize(blobRef(idOf(big), big))).toThrow(/extension type 4/);
  });
});
