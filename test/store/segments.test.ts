import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { idOf } from '../../src/store/id.ts';
import { type Location, SegmentFiles } from '../../src/store/segments.ts';
import { prng } from '../helpers/prng.ts';

let dir = '';
let files: SegmentFiles;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-segments-'));
  files = await SegmentFiles.open(dir);
});

afterEach(async () => {
  await files.close();
  await rm(dir, { recursive: true, force: true });
});

describe('segment files', () => {
  it('scan yields every record in order, with bytes when asked; a torn tail ends only its own segment', async () => {
    const blocks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(100 + i * 700, i));
    const first = await files.appendMany(blocks.slice(0, 20).map((bytes) => ({ id: idOf(bytes), bytes })));
    files.seal(first[0].segment);
    await files.appendMany(blocks.slice(20).map((bytes) => ({ id: idOf(bytes), bytes })));
    const all = [];
    for await (const r of files.scan({ segment: 0, offset: 0 }, (id) => id[2] % 2 === 0)) all.push(r);
    expect(all.map((r) => r.length)).toEqual(blocks.map((b) => b.length));
    all.forEach((r, i) => {
      expect(Buffer.from(r.id).equals(idOf(blocks[i]))).toBe(true);
      expect(r.bytes === undefined ? undefined : Buffer.from(r.bytes).equals(blocks[i])).toBe(r.id[2] % 2 === 0 ? true : undefined);
    });
    // The first segment loses the end of its last record, as a crash mid-write leaves it.
    await files.close();
    const names = (await readdir(dir)).sort();
    await truncate(join(dir, names[0]), first[19].offset + 10);
    files = await SegmentFiles.open(dir);
    const after = [];
    for await (const r of files.scan({ segment: 0, offset: 0 }, () => false)) after.push(r.length);
    expect(after).toEqual([...blocks.slice(0, 19), ...blocks.slice(20)].map((b) => b.length));
  });

  it('readMany returns each block in the order asked, each in its own memory, across gaps, segments and repeats', async () => {
    const rand = prng(5);
    const blocks = Array.from({ length: 300 }, (_, i) => {
      // Mostly node-sized, some far apart (a 40 KiB block between neighbours ends a span).
      const b = Buffer.alloc(i % 37 === 0 ? 40_000 : 50 + Math.floor(rand() * 3000), i % 251);
      b.writeUInt32BE(i, 0);
      return b;
    });
    const at: Location[] = await files.appendMany(blocks.slice(0, 150).map((bytes) => ({ id: idOf(bytes), bytes })));
    // A second run of the daemon would write to another segment: `seal` sends appends there.
    files.seal(at[0].segment);
    at.push(...(await files.appendMany(blocks.slice(150).map((bytes) => ({ id: idOf(bytes), bytes })))));
    expect(new Set(at.map((l) => l.segment)).size).toBe(2);
    const asked = Array.from({ length: 400 }, () => Math.floor(rand() * blocks.length));
    const got = await files.readMany(asked.map((i) => at[i]));
    expect(got.length).toBe(asked.length);
    got.forEach((b, k) => {
      expect(Buffer.from(b).equals(blocks[asked[k]])).toBe(true);
      expect(b.byteLength).toBe(b.buffer.byteLength);
    });
  });
});
