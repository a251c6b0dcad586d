import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/codec/index.ts';
import { decodeCommit, encodeCommit, isCommitId } from '../../src/store/commit-log.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import type { Id } from '../../src/store/id.ts';
import { RECORD_HEAD } from '../../src/store/segments.ts';
import { Vars } from '../../src/store/vars.ts';
import { Trees } from '../../src/tree/index.ts';
import { prng } from '../helpers/prng.ts';

/**
 * Commit records (docs/format.md §8.2): a write is durable once its segments are synced, and
 * LevelDB's batch, written without a sync, is rebuilt from them after a crash that lost it. The
 * crash is modelled exactly: LevelDB's files are put back as they were before the writes (what a
 * power loss leaves of writes it never synced), the segments kept, maybe cut short.
 */

const logger = pino({ level: 'silent' });
const here = dirname(fileURLToPath(import.meta.url));
const NODE = join(resolve(here, '../..'), 'node_modules/.bin/node');

/** Opens the store in a child process and SIGKILLs it `afterMs` after it starts opening (or lets it finish). */
function openAndKill(afterMs: number): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(NODE, [join(here, 'fixtures/open-store.ts'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (!out.includes('opening') && (out + chunk).includes('opening')) setTimeout(() => child.kill('SIGKILL'), afterMs);
      out += chunk;
    });
    child.on('error', fail);
    child.on('exit', () => done(out));
  });
}
let dir = '';
let saved = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-commit-log-'));
  saved = `${dir}.leveldb`;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(saved, { recursive: true, force: true });
});

/** Copies LevelDB's files (everything but the segments) aside. */
async function saveIndex(): Promise<void> {
  await mkdir(saved, { recursive: true });
  for (const name of await readdir(dir)) if (name !== 'segments') await cp(join(dir, name), join(saved, name), { recursive: true });
}

/** Puts LevelDB's files back as `saveIndex` found them: every LevelDB write since is lost. */
async function restoreIndex(): Promise<void> {
  for (const name of await readdir(dir)) if (name !== 'segments') await rm(join(dir, name), { recursive: true, force: true });
  for (const name of await readdir(saved)) await cp(join(saved, name), join(dir, name), { recursive: true });
}

async function lastSegment(): Promise<{ path: string; size: number }> {
  const names = (await readdir(join(dir, 'segments'))).sort();
  const path = join(dir, 'segments', names[names.length - 1]);
  return { path, size: (await stat(path)).size };
}

/**
 * Where the records of the last segment begin and end, in order: a write's commit record ends
 * where its last record does, before the zero padding a direct write adds (docs/format.md §8).
 */
async function records(store: BlockStore): Promise<Array<{ start: number; end: number }>> {
  const segment = Number(basename((await lastSegment()).path, '.seg'));
  const out: Array<{ start: number; end: number }> = [];
  for await (const r of store.segments.scan({ segment, offset: 0 }, () => false)) out.push({ start: r.offset, end: r.offset + RECORD_HEAD + r.length });
  return out;
}

const key = (i: number): Uint8Array => encodeValue(`key:${String(i).padStart(6, '0')}`);
/** Small values, and one over 1 KiB per write: node records (whole and deltas) and a blob. */
function write(n: number, r: () => number, blobBytes: number): Array<{ key: Uint8Array; val: Uint8Array }> {
  const muts = Array.from({ length: 20 }, () => ({ key: key(Math.floor(r() * 5000)), val: encodeValue(`w${n}:${r()}`) }));
  muts.push({ key: key(100_000 + n), val: encodeValue('b'.repeat(blobBytes) + String(n)) });
  return muts;
}

interface Done {
  root: Id;
  muts: Array<{ key: Uint8Array; val: Uint8Array }>;
  /** Where the tree write's first record begins in the last segment. */
  treeStart: number;
  /** Where its commit record ends. */
  treeEnd: number;
  /** The same after the variable `head` was set to the root (a commit of its own). */
  end: number;
}

/** A first run (a tree of 5,000 keys, closed cleanly, LevelDB saved), then `writes` writes in a second run. */
async function run(writes: number, seed: number, blobBytes = 1500): Promise<{ base: Id; done: Done[] }> {
  const r = prng(seed);
  let store = await BlockStore.open(dir, logger);
  let trees = new Trees(store, store);
  const base = await trees.write(trees.emptyRoot, Array.from({ length: 5000 }, (_, i) => ({ key: key(i), val: encodeValue(`v${i}`) })), -1);
  await store.close();
  await saveIndex();
  store = await BlockStore.open(dir, logger);
  trees = new Trees(store, store);
  const vars = new Vars(store);
  const done: Done[] = [];
  let root = base;
  for (let n = 0; n < writes; n++) {
    const muts = write(n, r, blobBytes);
    const was = (await lastSegment()).path;
    let before = (await records(store)).length;
    root = await trees.write(root, muts, -1);
    const recs = await records(store);
    // The run's first write begins the run's first segment.
    if ((await lastSegment()).path !== was) before = 0;
    await vars.set(Buffer.from('head'), Buffer.from(root));
    done.push({ root, muts, treeStart: recs[before].start, treeEnd: recs[recs.length - 1].end, end: (await records(store)).at(-1)?.end as number });
  }
  await store.close();
  return { base, done };
}

async function reopen(): Promise<{ store: BlockStore; trees: Trees }> {
  const store = await BlockStore.open(dir, logger);
  return { store, trees: new Trees(store, store) };
}

async function expectWhole(trees: Trees, store: BlockStore, d: Done): Promise<void> {
  // A key drawn twice in one write holds its last value.
  const last = new Map(d.muts.map((m) => [Buffer.from(m.key).toString('hex'), m]));
  for (const m of last.values()) expect(Buffer.from((await trees.get(d.root, m.key)) as Uint8Array).equals(Buffer.from(m.val))).toBe(true);
  expect(await store.pinOf(d.root)).toBeDefined();
}

describe('commit records (docs/format.md §8.2)', () => {
  it('round-trips, and refuses a record with any byte changed', () => {
    const rec = {
      first: { segment: 7, offset: 123_456 },
      count: 3,
      crc: 0xdeadbeef,
      ops: [
        { type: 'put' as const, key: Buffer.from('p-root'), value: Buffer.alloc(0) },
        { type: 'del' as const, key: Buffer.from('v-name') },
        { type: 'put' as const, key: Buffer.from('l-blob'), value: Buffer.from('location bytes') },
      ],
    };
    const { id, bytes } = encodeCommit(rec);
    expect(isCommitId(id)).toBe(true);
    expect(decodeCommit(id, bytes)).toEqual(rec);
    for (let i = 0; i < bytes.length; i++) {
      const bad = Buffer.from(bytes);
      bad[i] ^= 0x01;
      expect(decodeCommit(id, bad)).toBeUndefined();
    }
    expect(decodeCommit(id, bytes.subarray(0, bytes.length - 1))).toBeUndefined();
  });

  it('brings back every acknowledged write when LevelDB lost all it had not synced', async () => {
    const { done } = await run(6, 1);
    await restoreIndex();
    const { store, trees } = await reopen();
    try {
      for (const d of done) await expectWhole(trees, store, d);
      expect(Buffer.from((await new Vars(store).get(Buffer.from('head'))) as Uint8Array).equals(Buffer.from(done[5].root))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('without the replay, those writes would be gone: LevelDB alone does not have them', async () => {
    const { done } = await run(2, 2);
    await restoreIndex();
    // Move the segments of the second run away: what is left is LevelDB as the crash left it.
    const segs = (await readdir(join(dir, 'segments'))).sort();
    await rm(join(dir, 'segments', segs[segs.length - 1]));
    const { store } = await reopen();
    try {
      expect(await store.pinOf(done[0].root)).toBeUndefined();
      expect(await store.hasBlock(done[0].root)).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('stops at a torn write, and writes and reopens go on after it', async () => {
    const { done } = await run(4, 3);
    await restoreIndex();
    const seg = await lastSegment();
    await truncate(seg.path, done[3].treeEnd - 5);
    let { store, trees } = await reopen();
    for (const d of done.slice(0, 3)) await expectWhole(trees, store, d);
    expect(await store.hasBlock(done[3].root)).toBe(false);
    expect(Buffer.from((await new Vars(store).get(Buffer.from('head'))) as Uint8Array).equals(Buffer.from(done[2].root))).toBe(true);
    const next = await trees.write(done[2].root, [{ key: key(1), val: encodeValue('after') }], -1);
    await store.close();
    ({ store, trees } = await reopen());
    try {
      expect(await trees.get(next, key(1))).toEqual(encodeValue('after'));
      for (const d of done.slice(0, 3)) await expectWhole(trees, store, d);
    } finally {
      await store.close();
    }
  });

  it('does not replay a write whose node records were damaged, nor any after it', async () => {
    const { done } = await run(3, 4);
    await restoreIndex();
    const seg = await lastSegment();
    const bytes = await readFile(seg.path);
    // A byte in the middle of the second tree write's records (its commit record is its last ~100 bytes).
    const at = Math.floor((done[1].treeStart + done[1].treeEnd - 100) / 2);
    bytes[at] ^= 0xff;
    await writeFile(seg.path, bytes);
    const { store, trees } = await reopen();
    try {
      await expectWhole(trees, store, done[0]);
      expect(await store.pinOf(done[1].root)).toBeUndefined();
      expect(await store.pinOf(done[2].root)).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('kill -9 during the replay: the next open replays again, and every acknowledged write is whole', async () => {
    // 40 MiB of blobs to check against their ids: a replay long enough to be interrupted.
    const { done } = await run(40, 5, 1 << 20);
    await restoreIndex();
    // Later and later kills, until an open gets through: the ones before it cut the open short
    // somewhere (LevelDB's open, the scan, the checks, the batch).
    for (let ms = 0; ms < 2000; ms += 20) if ((await openAndKill(ms)).includes('open\n')) break;
    const { store, trees } = await reopen();
    try {
      for (const d of done) await expectWhole(trees, store, d);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('property: cut anywhere, the writes whose commit record is whole are whole, and none after', async () => {
    for (let seed = 10; seed < 16; seed++) {
      const r = prng(seed);
      await rm(dir, { recursive: true, force: true });
      await rm(saved, { recursive: true, force: true });
      await mkdir(dir);
      const { done } = await run(5, seed);
      await restoreIndex();
      const seg = await lastSegment();
      const cut = Math.floor(r() * (seg.size + 1));
      await truncate(seg.path, cut);
      const { store, trees } = await reopen();
      try {
        const kept = done.filter((d) => d.end <= cut);
        for (const d of kept) await expectWhole(trees, store, d);
        for (const d of done.slice(kept.length)) {
          if (d.treeEnd <= cut) await expectWhole(trees, store, d);
          else expect(await store.pinOf(d.root), `seed ${seed}, cut ${cut}`).toBeUndefined();
        }
        const head = await new Vars(store).get(Buffer.from('head'));
        if (kept.length > 0) expect(Buffer.from(head as Uint8Array).equals(Buffer.from(kept[kept.length - 1].root))).toBe(true);
        else expect(head).toBeUndefined();
      } finally {
        await store.close();
      }
    }
  });
});
