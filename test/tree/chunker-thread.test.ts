import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/store/blockstore.ts';
import { idToText } from '../../src/store/id.ts';
import { CHUNK_SLOTS, PIECE_SLOT } from '../../src/tree/chunk-slots.ts';
import { ChunkerThread } from '../../src/tree/chunker-thread.ts';
import { FileWriter } from '../../src/tree/file.ts';
import { Trees } from '../../src/tree/index.ts';
import { fileBytes } from './helpers.ts';
import { specBytes } from './spec-bytes.ts';

const logger = pino({ level: 'silent' });
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

async function upload(data: Uint8Array, piece: number): Promise<Uint8Array> {
  const w = new FileWriter(trees, store, chunker);
  for (let o = 0; o < data.length; o += piece) await w.write(data.subarray(o, o + piece));
  return w.finish(-1);
}

describe('the chunker thread', () => {
  it('round-trips uploads that need more slots than it has, and hands every slot back', async () => {
    // Six uploads at once hold more chunks than there are slots: the rest are cut into fresh
    // buffers. Pieces bigger than a piece slot are split.
    const files = Array.from({ length: 6 }, (_, i) => specBytes(5 * PIECE_SLOT + 1000 * i));
    const ids = await Promise.all(files.map((f, i) => upload(f, i % 2 === 0 ? 2.5 * PIECE_SLOT : 65_536)));
    expect(files.length * 5).toBeGreaterThan(CHUNK_SLOTS);
    for (const [i, f] of files.entries()) {
      expect(idToText(await upload(f, 1_000_003))).toBe(idToText(ids[i]));
      expect((await fileBytes(trees, ids[i], 0, f.length)).equals(f)).toBe(true);
    }
    expect(chunker.slotsHeld).toBe(0);
  }, 60_000);

  it('hands back the slots of an upload dropped half-way', async () => {
    const w = new FileWriter(trees, store, chunker);
    const data = specBytes(6 * PIECE_SLOT);
    for (let o = 0; o < 4 * PIECE_SLOT; o += PIECE_SLOT) await w.write(data.subarray(o, o + PIECE_SLOT));
    w.close();
    // What the thread had cut before the drop arrives after it; a later upload flushes the channel.
    const id = await upload(data, PIECE_SLOT);
    expect((await fileBytes(trees, id, 0, data.length)).equals(data)).toBe(true);
    // The dropped upload's appends still in flight hand theirs back as they land.
    for (let i = 0; i < 100 && chunker.slotsHeld > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(chunker.slotsHeld).toBe(0);
  }, 60_000);

  it('fails the uploads of a thread that exits, and serves the next ones on a new thread', async () => {
    const own = new ChunkerThread();
    try {
      const w = new FileWriter(trees, store, own);
      const data = specBytes(3 * PIECE_SLOT);
      await w.write(data.subarray(0, PIECE_SLOT));
      await own.close();
      await expect((async () => {
        await w.write(data.subarray(PIECE_SLOT));
        await w.finish(-1);
      })()).rejects.toThrow(/chunker thread exited|upload is finished/);
      const again = new FileWriter(trees, store, own);
      for (let o = 0; o < data.length; o += PIECE_SLOT) await again.write(data.subarray(o, o + PIECE_SLOT));
      const id = await again.finish(-1);
      expect((await fileBytes(trees, id, 0, data.length)).equals(data)).toBe(true);
    } finally {
      await own.close();
    }
  }, 60_000);
});
