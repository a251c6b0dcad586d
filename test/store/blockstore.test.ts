import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CrissError } from '../../src/errors.ts';
import { BlockStore, FOREVER } from '../../src/store/blockstore.ts';
import { type Id, idOf, idToText } from '../../src/store/id.ts';
import { decodeLocation } from '../../src/store/segments.ts';
import { prng } from '../helpers/prng.ts';
import { edit, leaf, randomLeaf } from './leaves.ts';

const logger = pino({ level: 'silent' });
const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));

function block(text: string): { id: Id; bytes: Uint8Array } {
  const bytes = Buffer.from(text);
  return { id: idOf(bytes), bytes };
}

let dir = '';
const open: BlockStore[] = [];

async function openStore(): Promise<BlockStore> {
  const s = await BlockStore.open(dir, logger);
  open.push(s);
  return s;
}

async function closeStore(s: BlockStore): Promise<void> {
  open.splice(open.indexOf(s), 1);
  await s.close();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-store-'));
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('BlockStore on LevelDB', () => {
  it('commits blocks, pins and vars, and finds them again after reopening', async () => {
    const a = block('alpha');
    const b = block('beta');
    let s = await openStore();
    expect(await s.getBlock(a.id)).toBeUndefined();
    await s.commit({
      blocks: [a, b],
      pins: [{ root: a.id, until: FOREVER }, { root: b.id, until: 1_700_000_000_000 }],
      vars: [{ name: Buffer.from('current'), value: Buffer.from(idToText(a.id)) }],
    });
    expect(hex(await s.getBlock(a.id))).toBe(hex(a.bytes));
    await closeStore(s);

    s = await openStore();
    expect(hex(await s.getBlock(a.id))).toBe(hex(a.bytes));
    expect(hex(await s.getBlock(b.id))).toBe(hex(b.bytes));
    expect(await s.hasBlock(a.id)).toBe(true);
    expect(await s.hasBlock(idOf(Buffer.from('missing')))).toBe(false);
    const many = await s.getBlocks([b.id, idOf(Buffer.from('missing')), a.id]);
    expect(many.map(hex)).toEqual([hex(b.bytes), undefined, hex(a.bytes)]);
    expect(await s.pinOf(a.id)).toBe(FOREVER);
    expect(await s.pinOf(b.id)).toBe(1_700_000_000_000);
    expect(await s.pinOf(idOf(Buffer.from('missing')))).toBeUndefined();
    const pins = await collect(s.pins());
    expect(pins.map((p) => [hex(p.root), p.until]).sort()).toEqual([[hex(a.id), FOREVER], [hex(b.id), 1_700_000_000_000]].sort());
    const vars = await collect(s.vars());
    expect(vars.map((v) => [Buffer.from(v.name).toString(), Buffer.from(v.value).toString()])).toEqual([['current', idToText(a.id)]]);
  });

  it('stores blocks given as plain Uint8Arrays (not Buffers) and views into larger buffers', async () => {
    const s = await openStore();
    const plain = new Uint8Array([1, 2, 3, 4, 5]);
    const backing = Buffer.from('..window..');
    const view = backing.subarray(2, 8);
    await s.commit({ blocks: [{ id: idOf(plain), bytes: plain }, { id: idOf(view), bytes: view }] });
    await closeStore(s);
    const t = await openStore();
    expect(hex(await t.getBlock(idOf(plain)))).toBe('0102030405');
    expect(Buffer.from((await t.getBlock(idOf(view))) as Uint8Array).toString()).toBe('window');
  });

  it('stores a blob given in pieces (as it arrives from a peer) as the one block they make, with its neighbours intact', async () => {
    const s = await openStore();
    const whole = Buffer.alloc(3000 * 1024);
    for (let i = 0; i < whole.length; i++) whole[i] = (i * 7 + (i >> 10)) & 0xff;
    // Over IOV_MAX (1024) pieces: libuv writes them in runs.
    const pieces = Array.from({ length: 1500 }, (_, i) => whole.subarray(i * 2048, (i + 1) * 2048));
    const before = Buffer.from('a blob before'.repeat(100));
    const after = Buffer.from('a blob after'.repeat(100));
    await s.commit({ blobs: [{ id: idOf(before), bytes: before }, { id: idOf(whole), bytes: pieces }, { id: idOf(after), bytes: after }] });
    await closeStore(s);
    const t = await openStore();
    expect(Buffer.from((await t.getBlob(idOf(whole))) as Uint8Array).equals(whole)).toBe(true);
    expect(hex(await t.getBlob(idOf(before)))).toBe(before.toString('hex'));
    expect(hex(await t.getBlob(idOf(after)))).toBe(after.toString('hex'));
  });

  it('500 concurrent commits all resolve, share far fewer syncs, and all land', async () => {
    const s = await openStore();
    const blocks = Array.from({ length: 500 }, (_, i) => block(`block ${i}`));
    const before = { ...s.stats };
    await Promise.all(blocks.map((b) => s.commit({ blocks: [b], pins: [{ root: b.id, until: FOREVER }] })));
    const commits = s.stats.commits - before.commits;
    const syncs = s.stats.syncs - before.syncs;
    expect(commits).toBe(500);
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThan(commits);
    expect(syncs).toBeLessThanOrEqual(10);
    await closeStore(s);

    const t = await openStore();
    const got = await t.getBlocks(blocks.map((b) => b.id));
    expect(got.map(hex)).toEqual(blocks.map((b) => hex(b.bytes)));
    for (const b of blocks.slice(0, 20)) expect(await t.pinOf(b.id)).toBe(FOREVER);
  });

  it('commits arriving while a sync runs join the next group', async () => {
    const s = await openStore();
    const first = s.commit({ blocks: [block('first')] });
    // Issued in later ticks, while the first batch is being written.
    const rest: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      rest.push(s.commit({ blocks: [block(`later ${i}`)] }));
      if (i % 10 === 0) await Promise.resolve();
    }
    await Promise.all([first, ...rest]);
    expect(s.stats.commits).toBe(51);
    expect(s.stats.syncs).toBeLessThan(51);
  });

  it('a pin never shortens: T2 then T1 < T2 keeps T2; a later T3 extends it', async () => {
    const root = block('root').id;
    const T1 = 1_000_000;
    const T2 = 2_000_000;
    const T3 = 3_000_000;
    let s = await openStore();
    await s.commit({ pins: [{ root, until: T2 }] });
    await s.commit({ pins: [{ root, until: T1 }] });
    expect(await s.pinOf(root)).toBe(T2);
    await closeStore(s);
    s = await openStore();
    expect(await s.pinOf(root)).toBe(T2);
    await s.commit({ pins: [{ root, until: T1 }] });
    expect(await s.pinOf(root)).toBe(T2);
    await s.commit({ pins: [{ root, until: T3 }] });
    expect(await s.pinOf(root)).toBe(T3);
    await s.commit({ pins: [{ root, until: FOREVER }] });
    await s.commit({ pins: [{ root, until: T3 + 1 }] });
    expect(await s.pinOf(root)).toBe(FOREVER);
  });

  it('pins() lists each pinned root once, with the pin in force', async () => {
    const a = block('pa').id;
    const b = block('pb').id;
    const s = await openStore();
    await s.commit({ pins: [{ root: a, until: 300 }, { root: b, until: 5 }] });
    await s.commit({ pins: [{ root: a, until: 100 }, { root: b, until: FOREVER }] });
    await s.commit({ pins: [{ root: a, until: 200 }, { root: b, until: 7 }] });
    const pins = (await collect(s.pins())).map((p) => [hex(p.root), p.until]);
    expect(pins.sort()).toEqual([[hex(a), 300], [hex(b), FOREVER]].sort());
  });

  it('a pin never shortens within one write set either', async () => {
    const root = block('one set').id;
    const s = await openStore();
    await s.commit({ pins: [{ root, until: 5_000 }, { root, until: 9_000 }, { root, until: 7_000 }] });
    expect(await s.pinOf(root)).toBe(9_000);
  });

  it('concurrent commits pinning the same root keep the latest expiry, in any order', async () => {
    const s = await openStore();
    for (let round = 0; round < 5; round++) {
      const root = block(`shared root ${round}`).id;
      const untils = Array.from({ length: 40 }, (_, i) => 10_000 + ((i * 7919 + round * 104729) % 40) * 1000);
      const max = Math.max(...untils);
      // Some before, some during, some after the max arrives; spread over several groups.
      const ps: Promise<void>[] = [];
      for (const [i, until] of untils.entries()) {
        ps.push(s.commit({ pins: [{ root, until }] }));
        if (i % 7 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(ps);
      expect(await s.pinOf(root)).toBe(max);
      // And a lower pin later still does not shorten it.
      await Promise.all([s.commit({ pins: [{ root, until: 1 }] }), s.commit({ pins: [{ root, until: max - 1 }] })]);
      expect(await s.pinOf(root)).toBe(max);
    }
  });

  it('vars: put, overwrite, delete; the last write in commit order wins', async () => {
    const name = Buffer.from('app');
    const other = Buffer.from('other');
    let s = await openStore();
    await s.commit({ vars: [{ name, value: Buffer.from('v1') }, { name: other, value: Buffer.from('o') }] });
    await s.commit({ vars: [{ name, value: Buffer.from('v2') }] });
    const read = async (st: BlockStore): Promise<Record<string, string>> =>
      Object.fromEntries((await collect(st.vars())).map((v) => [Buffer.from(v.name).toString(), Buffer.from(v.value).toString()]));
    expect(await read(s)).toEqual({ app: 'v2', other: 'o' });
    await s.commit({ vars: [{ name, value: null }] });
    expect(await read(s)).toEqual({ other: 'o' });
    // Concurrent: put, put, delete → deleted; delete, put → put.
    await Promise.all([
      s.commit({ vars: [{ name, value: Buffer.from('a') }] }),
      s.commit({ vars: [{ name, value: Buffer.from('b') }] }),
      s.commit({ vars: [{ name, value: null }] }),
    ]);
    expect(await read(s)).toEqual({ other: 'o' });
    await Promise.all([s.commit({ vars: [{ name: other, value: null }] }), s.commit({ vars: [{ name: other, value: Buffer.from('back') }] })]);
    expect(await read(s)).toEqual({ other: 'back' });
    // Deleting a var that does not exist is fine.
    await s.commit({ vars: [{ name: Buffer.from('never'), value: null }] });
    await closeStore(s);
    s = await openStore();
    expect(await read(s)).toEqual({ other: 'back' });
  });

  it('close waits for queued commits; commits after close are refused with CLOSED', async () => {
    const s = await openStore();
    const b = block('queued');
    const pending = s.commit({ blocks: [b] });
    await closeStore(s);
    await pending;
    await expect(s.commit({ blocks: [block('late')] })).rejects.toMatchObject({ code: 'CLOSED' });
    const t = await openStore();
    expect(hex(await t.getBlock(b.id))).toBe(hex(b.bytes));
  });

  it('keeps node bytes in the segment files: LevelDB holds only their locations', async () => {
    const s = await openStore();
    const big = block('n'.repeat(4000));
    await s.commit({ blocks: [big, block('small')] });
    await closeStore(s);
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const entries = await collect(db.iterator());
    await db.close();
    expect(entries.filter(([k]) => k[0] === 0x62)).toEqual([]);
    const entry = entries.find(([k]) => k[0] === 0x6e && k.subarray(1).equals(big.id));
    expect(entry?.[1].length).toBe(16);
    const at = decodeLocation((entry as [Buffer, Buffer])[1]);
    const segment = await readFile(join(dir, 'segments', `${String(at.segment).padStart(8, '0')}.seg`));
    expect(segment.subarray(at.offset, at.offset + at.length).equals(big.bytes)).toBe(true);
    expect(segment.subarray(at.offset - 34, at.offset).equals(big.id)).toBe(true);
    const t = await openStore();
    expect(hex(await t.getBlock(big.id))).toBe(hex(big.bytes));
    expect(await t.hasBlock(big.id)).toBe(true);
    expect(await t.hasBlock(block('absent').id)).toBe(false);
  });

  it('refuses a store written with another layout version, and leaves it untouched', async () => {
    const s = await openStore();
    const b = block('kept');
    await s.commit({ blocks: [b] });
    await closeStore(s);
    // The version lives under the meta prefix 'm' (0x6d), key 'v' (0x76).
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    expect(hex(await db.get(Buffer.from([0x6d, 0x76])))).toBe('06');
    await db.put(Buffer.from([0x6d, 0x76]), Buffer.from([7]));
    await db.close();

    let err: unknown;
    try {
      open.push(await BlockStore.open(dir, logger));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CrissError);
    expect(String((err as Error).message)).toMatch(/version 7/);

    // The refusal closed LevelDB (the lock is free) and changed nothing.
    const again = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await again.open();
    expect(hex(await again.get(Buffer.from([0x6d, 0x76])))).toBe('07');
    await again.close();
  });

  it.each([1, 2, 3, 4, 5])('upgrades a layout-%i store in place: later layouts only add to it', async (layout) => {
    const s = await openStore();
    const b = block(`from layout ${layout}`);
    await s.commit({ blocks: [b] });
    await closeStore(s);
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.put(Buffer.from([0x6d, 0x76]), Buffer.from([layout]));
    await db.close();
    const upgraded = await openStore();
    expect(hex(await upgraded.getBlock(b.id))).toBe(hex(b.bytes));
    await closeStore(upgraded);
    const after = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await after.open();
    expect(hex(await after.get(Buffer.from([0x6d, 0x76])))).toBe('06');
    await after.close();
  });

  it('takes no write after one that failed past its commit record, until reopened; what was acknowledged stays', async () => {
    let s = await openStore();
    const kept = block('acknowledged');
    await s.commit({ blocks: [kept], pins: [{ root: kept.id, until: FOREVER }] });
    // An fdatasync that fails (EIO): the write's commit record may be on disk or half of it.
    const sync = s.segments.sync.bind(s.segments);
    s.segments.sync = () => Promise.reject(new Error('EIO: i/o error, fdatasync'));
    await expect(s.commit({ blocks: [block('failed')] })).rejects.toMatchObject({ code: 'ERR', message: expect.stringMatching(/store write failed: EIO/) });
    s.segments.sync = sync;
    expect(s.info()).toContainEqual(['store_writable', 0]);
    await expect(s.commit({ blocks: [block('after')] })).rejects.toMatchObject({ message: expect.stringMatching(/refuses writes.*restart/) });
    await closeStore(s);
    s = await openStore();
    expect(s.info()).toContainEqual(['store_writable', 1]);
    expect(hex(await s.getBlock(kept.id))).toBe(hex(kept.bytes));
    expect(await s.pinOf(kept.id)).toBe(FOREVER);
    const later = block('after a restart');
    await s.commit({ blocks: [later] });
    expect(hex(await s.getBlock(later.id))).toBe(hex(later.bytes));
  });

  describe('groups in flight: the next is written while the one before syncs', () => {
    /** Holds the store's first append and first sync until let go; counts the syncs begun. */
    function holdFirstGroup(s: BlockStore, fail = false): { appending: () => boolean; syncs: () => number; letAppend: () => void; letSync: () => void } {
      const { segments } = s;
      const appendSealed = segments.appendSealed.bind(segments);
      const sync = segments.sync.bind(segments);
      const append = Promise.withResolvers<void>();
      const synced = Promise.withResolvers<void>();
      let appends = 0;
      let syncs = 0;
      segments.appendSealed = async (...args) => {
        if (++appends === 1) await append.promise;
        return appendSealed(...args);
      };
      segments.sync = async () => {
        if (++syncs === 1) {
          await synced.promise;
          if (fail) throw new Error('EIO: i/o error, fdatasync');
        }
        return sync();
      };
      return { appending: () => appends > 0, syncs: () => syncs, letAppend: append.resolve, letSync: synced.resolve };
    }

    async function until(what: () => boolean): Promise<void> {
      for (let i = 0; i < 10_000 && !what(); i++) await new Promise((r) => setImmediate(r));
      expect(what()).toBe(true);
    }

    it('a node a later group writes again while the first is unsynced is stored once, and both land in queue order', async () => {
      const r = prng(71);
      const baseEntries = randomLeaf(r);
      const baseBytes = leaf(baseEntries);
      const base = { id: idOf(baseBytes), bytes: baseBytes };
      const nodeBytes = leaf(edit(baseEntries, 1, r));
      const node = { id: idOf(nodeBytes), bytes: nodeBytes, base };
      const name = Buffer.from('head');
      let s = await openStore();
      await s.commit({ blocks: [base], pins: [{ root: base.id, until: FOREVER }] });
      const written = s.stats.blocksWritten;
      const held = holdFirstGroup(s);
      const heard: string[] = [];
      const first = s.commit({ blocks: [node], vars: [{ name, value: Buffer.from('first') }] }).then(() => heard.push('first'));
      await until(held.appending);
      // Queued while the first group is written: taken, encoded and synced before that one lands.
      const second = s.commit({ blocks: [node], pins: [{ root: node.id, until: FOREVER }], vars: [{ name, value: Buffer.from('second') }] }).then(() => heard.push('second'));
      held.letAppend();
      await until(() => held.syncs() === 2);
      expect(heard).toEqual([]);
      held.letSync();
      await Promise.all([first, second]);
      expect(heard).toEqual(['first', 'second']);
      expect(s.stats.blocksWritten - written).toBe(1);
      await closeStore(s);
      s = await openStore();
      expect(hex(await s.getBlock(node.id))).toBe(hex(nodeBytes));
      expect((await collect(s.vars())).map((v) => Buffer.from(v.value).toString())).toEqual(['second']);
    });

    it('a group queued behind one that fails past its commit record is refused, not landed', async () => {
      const s = await openStore();
      const held = holdFirstGroup(s, true);
      const failed = s.commit({ blocks: [block('fails')] });
      await until(held.appending);
      const behind = block('queued behind it');
      const queued = s.commit({ blocks: [behind] });
      held.letAppend();
      await until(() => held.syncs() === 2);
      held.letSync();
      await expect(failed).rejects.toMatchObject({ message: expect.stringMatching(/store write failed: EIO/) });
      await expect(queued).rejects.toMatchObject({ message: expect.stringMatching(/refuses writes.*restart/) });
      expect(await s.getBlock(behind.id)).toBeUndefined();
    });
  });

  it('refuses to open a directory another open store holds', async () => {
    await openStore();
    await expect(BlockStore.open(dir, logger)).rejects.toBeInstanceOf(CrissError);
  });
});
