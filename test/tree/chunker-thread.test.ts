import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/store/blockstore.ts';
import { idToText, piecesHaveId } from '../../src/store/id.ts';
import { ChunkerThread } from '../../src/tree/chunker-thread.ts';
import { type BlobAppender, FileWriter } from '../../src/tree/file.ts';
import { RING_BYTES } from '../../src/tree/upload-ring.ts';
import { Trees } from '../../src/tree/index.ts';
import { fileBytes } from './helpers.ts';
import { specBytes } from './spec-bytes.ts';

const logger = pino({ level: 'silent' });
const PIECE = 1024 * 1024;
let dir: string;
let store: BlockStore;
let trees: Trees;
const chunker = new ChunkerThread();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-chunker-'));
  store = await BlockStore.open(dir, logger);
  trees = new Trees(store, store);
});
afterAll(async () => {
  await chunker.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function upload(data: Uint8Array, piece: number, thread = chunker): Promise<Uint8Array> {
  const w = new FileWriter(trees, store, thread);
  for (let o = 0; o < data.length; o += piece) await w.write(data.subarray(o, o + piece));
  return w.finish(-1);
}

describe('the chunker thread', () => {
  it('round-trips uploads at once, in pieces of any size, around their rings, and gets every ring back', async () => {
    // Several laps of each ring, so chunks cross its end; a piece bigger than a ring waits for
    // room part by part.
    const files = Array.from({ length: 4 }, (_, i) => specBytes(2 * RING_BYTES + 1000 * i + 12_345));
    const ids = await Promise.all(files.map((f, i) => upload(f, i % 2 === 0 ? 2.5 * PIECE : 65_536)));
    for (const [i, f] of files.entries()) {
      expect(idToText(await upload(f, i % 2 === 0 ? f.length : 1_000_003))).toBe(idToText(ids[i]));
      expect((await fileBytes(trees, ids[i], 0, f.length)).equals(f)).toBe(true);
    }
    expect(chunker.ringsLent).toBe(0);
  }, 60_000);

  it('lends a ring to one upload at a time, also after uploads that end with an inline chunk', async () => {
    // A thread of its own, so that its free rings are this test's.
    const own = new ChunkerThread();
    try {
      // A file of a few bytes is one inline chunk, released while its last message is handled.
      for (let i = 0; i < 3; i++) await upload(specBytes(10 + i), 1 << 20, own);
      // Different bytes at every offset, so that two uploads writing into one ring would show.
      const files = [randomBytes(2 * RING_BYTES + 1), randomBytes(2 * RING_BYTES + 2)];
      const ids = await Promise.all(files.map((f) => upload(f, 300_007, own)));
      for (const [i, f] of files.entries()) expect((await fileBytes(trees, ids[i], 0, f.length)).equals(f)).toBe(true);
    } finally {
      await own.close();
    }
  }, 60_000);

  it('never lets a ring take new bytes while an append still reads the old ones, a dropped upload\'s included', async () => {
    // A thread of its own, so that the second upload is lent the ring the first one left, if any.
    const own = new ChunkerThread();
    const corrupt: string[] = [];
    // The store's appender, each blob checked against its id only after a pause: what a slow disk write reads.
    const slow: BlobAppender = {
      appendBlob: async (id, bytes) => {
        await new Promise((r) => setTimeout(r, 5));
        if (!piecesHaveId(bytes instanceof Uint8Array ? [bytes] : bytes, id)) corrupt.push(idToText(id));
        return store.appendBlob(id, bytes);
      },
      hasBlob: (id) => store.hasBlob(id),
      release: (at) => store.release(at),
    };
    try {
      const dropped = new FileWriter(trees, slow, own);
      const first = randomBytes(3 * RING_BYTES);
      for (let o = 0; o < 2 * RING_BYTES; o += PIECE) await dropped.write(first.subarray(o, o + PIECE));
      dropped.close();
      const data = randomBytes(3 * RING_BYTES);
      const w = new FileWriter(trees, slow, own);
      for (let o = 0; o < data.length; o += 300_007) await w.write(data.subarray(o, o + 300_007));
      const id = await w.finish(-1);
      // The dropped upload's last appends land after their pause.
      await new Promise((r) => setTimeout(r, 100));
      expect(corrupt).toEqual([]);
      expect((await fileBytes(trees, id, 0, data.length)).equals(data)).toBe(true);
    } finally {
      await own.close();
    }
  }, 60_000);

  it('forgets an upload dropped half-way, and the next upload goes on', async () => {
    const w = new FileWriter(trees, store, chunker);
    const data = specBytes(6 * PIECE);
    for (let o = 0; o < 4 * PIECE; o += PIECE) await w.write(data.subarray(o, o + PIECE));
    w.close();
    expect(chunker.ringsLent).toBe(0);
    // What the thread had cut before the drop arrives after it, for an upload nobody holds.
    const id = await upload(data, PIECE);
    expect((await fileBytes(trees, id, 0, data.length)).equals(data)).toBe(true);
    expect(chunker.ringsLent).toBe(0);
  }, 60_000);

  it('fails the uploads of a thread that exits, and serves the next ones on a new thread', async () => {
    const own = new ChunkerThread();
    try {
      const w = new FileWriter(trees, store, own);
      const data = specBytes(3 * PIECE);
      await w.write(data.subarray(0, PIECE));
      await own.close();
      await expect((async () => {
        await w.write(data.subarray(PIECE));
        await w.finish(-1);
      })()).rejects.toThrow(/chunker thread exited|upload is finished/);
      const again = new FileWriter(trees, store, own);
      for (let o = 0; o < data.length; o += PIECE) await again.write(data.subarray(o, o + PIECE));
      const id = await again.finish(-1);
      expect((await fileBytes(trees, id, 0, data.length)).equals(data)).toBe(true);
    } finally {
      await own.close();
    }
  }, 60_000);
});
