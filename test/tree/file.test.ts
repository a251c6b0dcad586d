import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/codec/index.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import { idToText } from '../../src/store/id.ts';
import { INLINE_MAX } from '../../src/tree/blob.ts';
import { AVG_CHUNK, MAX_CHUNK, MIN_CHUNK } from '../../src/tree/cdc.ts';
import { FileWriter, fileSize } from '../../src/tree/file.ts';
import { Trees } from '../../src/tree/index.ts';
import { streamCuts as cuts, fileBytes } from './helpers.ts';
import { specBytes } from './spec-bytes.ts';

const logger = pino({ level: 'silent' });
let dir: string;
let store: BlockStore;
let trees: Trees;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-file-'));
  store = await BlockStore.open(dir, logger);
  trees = new Trees(store, store);
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function upload(data: Uint8Array, piece = 100_003): Promise<Uint8Array> {
  const w = new FileWriter(trees, store);
  for (let o = 0; o < data.length; o += piece) await w.write(data.subarray(o, o + piece));
  return w.finish(-1);
}

async function read(id: Uint8Array, offset: number, length: number): Promise<Buffer> {
  return fileBytes(trees, id, offset, length);
}

describe('files', () => {
  const sizes = [0, 1, INLINE_MAX - 3, INLINE_MAX - 2, MIN_CHUNK - 1, MIN_CHUNK, MIN_CHUNK + 1, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1, 3 * MAX_CHUNK + 7];
  for (const n of sizes) {
    it(`round-trips ${n} bytes, whatever the piece size`, async () => {
      const data = specBytes(n);
      const a = await upload(data);
      const b = await upload(data, 4096);
      const c = await upload(data, Math.max(1, n));
      expect(idToText(b)).toBe(idToText(a));
      expect(idToText(c)).toBe(idToText(a));
      expect(await fileSize(trees, await trees.root(a))).toBe(n);
      expect((await read(a, 0, n + 10)).equals(data)).toBe(true);
    });
  }

  it('reads byte ranges at every chunk boundary, past the end and of zero length', async () => {
    const data = specBytes(5 * MAX_CHUNK + 12345);
    const id = await upload(data);
    const bounds = [0, ...cuts(data)];
    expect(bounds.length).toBeGreaterThan(6);
    for (const b of bounds) {
      for (const [off, len] of [[b - 1, 2], [b, 1], [b - 100, 300_000], [b, 0]]) {
        if (off < 0) continue;
        expect((await read(id, off, len)).equals(data.subarray(off, off + len))).toBe(true);
      }
    }
    expect((await read(id, data.length, 10)).length).toBe(0);
    expect((await read(id, data.length + 1000, 10)).length).toBe(0);
    expect((await read(id, data.length - 3, 10)).equals(data.subarray(data.length - 3))).toBe(true);
  });

  it('cuts by content: an insert in the middle changes only the chunks around it', async () => {
    const data = specBytes(40 * AVG_CHUNK);
    const mid = data.length >> 1;
    const edited = Buffer.concat([data.subarray(0, mid), Buffer.alloc(100, 7), data.subarray(mid)]);
    const before = new Set(cuts(data).map((c, i, all) => data.subarray(i === 0 ? 0 : all[i - 1], c).toString('base64')));
    const after = cuts(edited).map((c, i, all) => edited.subarray(i === 0 ? 0 : all[i - 1], c).toString('base64'));
    const changed = after.filter((chunk) => !before.has(chunk));
    expect(changed.length).toBeGreaterThanOrEqual(1);
    expect(changed.length).toBeLessThanOrEqual(2);
    const sizes = cuts(data).map((c, i, all) => c - (i === 0 ? 0 : all[i - 1]));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_CHUNK);
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThanOrEqual(MIN_CHUNK);
  });

  it('matches the golden vector of docs/format.md §11', async () => {
    const data = specBytes(3 * 1024 * 1024);
    expect(cuts(data)).toEqual([372_244, 701_660, 1_144_522, 1_409_524, 1_710_386, 2_021_656, 2_356_148, 2_653_974, 2_941_108, 3_145_728]);
    expect(idToText(await upload(data))).toBe('QmZM3rzRV1BzchaGzJcMrUtGn2tSkXcpWh94C1JAY12sgg');
  });

  it('refuses trees that are not files, with WRONGTYPE', async () => {
    const notFile = await trees.write(trees.emptyRoot, [{ key: encodeValue('a'), val: encodeValue('b') }], 0);
    await expect(fileSize(trees, await trees.root(notFile))).rejects.toMatchObject({ code: 'WRONGTYPE' });
    const gap = await trees.write(trees.emptyRoot, [{ key: encodeValue(0), val: encodeValue(Buffer.alloc(10)) }, { key: encodeValue(20), val: encodeValue(Buffer.alloc(10)) }], 0);
    await expect(read(gap, 0, 30)).rejects.toMatchObject({ code: 'WRONGTYPE' });
  });
});

describe('a file past 4 GiB', () => {
  it('round-trips sizes and byte ranges beyond 2^31 and 2^32', async () => {
    // Generated, mostly zeros: identical chunks are stored once, so the disk barely notices.
    const size = 2 ** 32 + 3 * MAX_CHUNK + 5;
    const markers = [1, 2 ** 31 - 1, 2 ** 31 + 7, 2 ** 32 - 2, 2 ** 32 + 11, size - 1];
    const piece = Buffer.alloc(8 * 1024 * 1024);
    const w = new FileWriter(trees, store);
    for (let o = 0; o < size; o += piece.length) {
      const n = Math.min(piece.length, size - o);
      piece.fill(0);
      for (const m of markers) if (m >= o && m < o + n) piece[m - o] = 0x58;
      await w.write(piece.subarray(0, n));
    }
    const id = await w.finish(-1);
    const root = await trees.root(id);
    expect(await fileSize(trees, root)).toBe(size);
    for (const m of markers) {
      const around = await read(id, m - 1, 3);
      expect([...around]).toEqual(m === size - 1 ? [0, 0x58] : [0, 0x58, 0]);
    }
    expect((await read(id, size - 2, 100)).length).toBe(2);
  }, 600_000);
});
