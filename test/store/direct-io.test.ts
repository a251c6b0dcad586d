import { constants } from 'node:fs';
import { mkdtemp, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BlockStore } from '../../src/store/blockstore.ts';
import { ALIGN, alignedMemory, openDirect, writeAligned } from '../../src/store/direct-io.ts';
import { idOf } from '../../src/store/id.ts';
import { RECORD_HEAD, SegmentFiles } from '../../src/store/segments.ts';
import { prng } from '../helpers/prng.ts';

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-direct-io-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bytes(n: number, seed: number): Buffer {
  const r = prng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}

async function segmentFile(): Promise<Buffer> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
  return readFile(join(dir, names[names.length - 1]));
}

/** Whether the file system under the OS temp dir takes O_DIRECT (tmpfs before Linux 6.6 does not). */
async function directHere(): Promise<boolean> {
  const probe = join(dir, 'probe');
  await (await open(probe, 'w')).close();
  const fh = await openDirect(probe, constants.O_RDWR);
  await fh?.close();
  return fh !== null;
}

describe('direct I/O (store/direct-io)', () => {
  it('writes pieces through a staging smaller than they are, padding the last block with zeros', async (ctx) => {
    if (!(await directHere())) ctx.skip();
    const path = join(dir, 'out');
    await (await open(path, 'w')).close();
    const fh = (await openDirect(path, constants.O_RDWR)) as NonNullable<Awaited<ReturnType<typeof openDirect>>>;
    try {
      const pieces = [bytes(5000, 1), bytes(1, 2), bytes(3 * ALIGN, 3), bytes(777, 4)];
      const total = pieces.reduce((n, p) => n + p.length, 0);
      const written = await writeAligned(fh, alignedMemory(65536).subarray(0, 2 * ALIGN), pieces, ALIGN);
      expect(written).toBe(Math.ceil(total / ALIGN) * ALIGN);
      const file = await readFile(path);
      expect(file.length).toBe(ALIGN + written);
      expect(file.subarray(ALIGN, ALIGN + total).equals(Buffer.concat(pieces))).toBe(true);
      expect(file.subarray(ALIGN + total).every((b) => b === 0)).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('segments: each write starts on a block, scans skip the padding, big reads come back whole at any offset', async (ctx) => {
    if (!(await directHere())) ctx.skip();
    const files = await SegmentFiles.open(dir);
    expect(files.directIo).toBe(true);
    const blocks = [bytes(100, 5), bytes(70_000, 6), bytes(3, 7), bytes(300_000, 8), bytes(4096 - RECORD_HEAD, 9)];
    const at = [];
    for (const b of blocks) at.push(...(await files.appendMany([{ id: idOf(b), bytes: b }])));
    await files.sync();
    for (const loc of at) expect((loc.offset - RECORD_HEAD) % ALIGN).toBe(0);
    const back = await Promise.all(at.map((loc) => files.read(loc)));
    back.forEach((b, i) => expect(Buffer.from(b).equals(blocks[i])).toBe(true));
    const scanned = [];
    for await (const r of files.scan({ segment: 0, offset: 0 }, () => true)) scanned.push(r);
    expect(scanned.map((r) => r.length)).toEqual(blocks.map((b) => b.length));
    scanned.forEach((r, i) => expect(Buffer.from(r.bytes as Uint8Array).equals(blocks[i])).toBe(true));
    const file = await segmentFile();
    expect(file.length % ALIGN).toBe(0);
    expect(file.subarray(at[0].offset + blocks[0].length, at[1].offset - RECORD_HEAD).every((b) => b === 0)).toBe(true);
    await files.close();
  });

  it('segments without it: records lie end to end, as before', async () => {
    const files = await SegmentFiles.open(dir, { direct: false });
    expect(files.directIo).toBe(false);
    const blocks = [bytes(100, 10), bytes(70_000, 11), bytes(3, 12)];
    const at = [];
    for (const b of blocks) at.push(...(await files.appendMany([{ id: idOf(b), bytes: b }])));
    await files.close();
    expect(at[1].offset).toBe(at[0].offset + blocks[0].length + RECORD_HEAD);
    expect(at[2].offset).toBe(at[1].offset + blocks[1].length + RECORD_HEAD);
    const names = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    expect((await stat(join(dir, names[0]))).size).toBe(at[2].offset + blocks[2].length);
  });

  it('INFO store says whether the store bypasses the page cache', async () => {
    const expected = (await directHere()) ? 1 : 0;
    const on = await BlockStore.open(join(dir, 'on'), pino({ level: 'silent' }));
    expect(on.info()).toContainEqual(['store_direct_io', expected]);
    await on.close();
    const off = await BlockStore.open(join(dir, 'off'), pino({ level: 'silent' }), { direct: false });
    expect(off.info()).toContainEqual(['store_direct_io', 0]);
    await off.close();
  });
});
