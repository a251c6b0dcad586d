import { mkdtemp, rm } from 'node:fs/promises';
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
