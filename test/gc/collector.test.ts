import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Link, decodeValue, encodeBytes, encodeValue } from '../../src/codec/index.ts';
import { Collector } from '../../src/gc/collector.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import { idKey, idOf } from '../../src/store/id.ts';
import { decodeLocation } from '../../src/store/segments.ts';
import { Trees } from '../../src/tree/index.ts';
import { FileWriter } from '../../src/tree/file.ts';
import { fileBytes } from '../tree/helpers.ts';
import { prng } from '../helpers/prng.ts';
import { type Env, kept, logger, openEnv, reachable, stored } from './helpers.ts';

let env: Env;
beforeEach(async () => {
  env = await openEnv();
});
afterEach(async () => {
  await env.close();
});

const put = (k: unknown, v: unknown) => ({ key: encodeValue(k as never), val: encodeValue(v as never) });

function randomBytes(n: number, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

async function upload(bytes: Uint8Array, ttl: number): Promise<Uint8Array> {
  const w = new FileWriter(env.trees, env.store);
  for (let o = 0; o < bytes.length; o += 300_000) await w.write(bytes.subarray(o, o + 300_000));
  return w.finish(ttl);
}

describe('garbage collection', () => {
  it('frees what no pin reaches and keeps every block of pinned trees', async () => {
    const kept = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 2000 }, (_, i) => put(i, `kept ${i}`)), -1);
    const dropped = await env.trees.write(kept, Array.from({ length: 500 }, (_, i) => put(i * 3, `replaced ${i}`)), 0);
    const before = await stored(env.store);
    const needed = await reachable(env, kept);
    const report = await env.gc.run();
    const after = await stored(env.store);
    expect([...needed].every((id) => after.has(id))).toBe(true);
    expect(after.size).toBe(needed.size);
    expect(report.freedBlocks).toBe(before.size - needed.size);
    const cold = (await import('../../src/tree/index.ts')).Trees;
    await expect(new cold(env.store, env.store).root(dropped)).rejects.toMatchObject({ code: 'NOTFOUND' });
  });

  it('keeps a root within its grace period and frees it after', async () => {
    await env.close();
    env = await openEnv(1000);
    // The first collection waits out the grace period after start (roots from before a restart).
    await env.gc.run();
    const root = await env.trees.write(env.trees.emptyRoot, [put('a', 1)], 0);
    await env.gc.run();
    expect((await stored(env.store)).has(idKey(root))).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    await env.gc.run();
    expect((await stored(env.store)).has(idKey(root))).toBe(false);
  });

  it('frees a pin once it expires, and drops the superseded and expired pin records', async () => {
    const root = await env.trees.write(env.trees.emptyRoot, [put('short', 1)], 30);
    await env.trees.persist(root, 40);
    await new Promise((r) => setTimeout(r, 80));
    const report = await env.gc.run();
    expect(report.freedPins).toBe(2);
    expect((await stored(env.store)).size).toBe(0);
  });

  it('follows links: a pinned directory keeps its files and their chunks', async () => {
    const data = randomBytes(900_000, 1);
    const file = await upload(data, 0);
    const dir = await env.trees.write(env.trees.emptyRoot, [{ key: encodeValue('f'), val: encodeValue(new Link(file)) }], -1);
    await upload(randomBytes(700_000, 2), 0);
    await env.gc.run();
    expect((await fileBytes(env.trees, file, 0, data.length)).equals(data)).toBe(true);
    expect((await stored(env.store)).size).toBe((await reachable(env, dir)).size);
  });

  it('keeps the trees variables hold', async () => {
    const root = await env.trees.write(env.trees.emptyRoot, [put('v', 1)], 0);
    await env.store.commit({ vars: [{ name: Buffer.from('app'), value: Buffer.from(root) }] });
    await env.gc.run();
    expect((await stored(env.store)).has(idKey(root))).toBe(true);
  });

  it('returns the space of dead blobs to the filesystem', async () => {
    const big = Array.from({ length: 40 }, (_, i) => ({ key: encodeValue(i), val: encodeBytes(randomBytes(200_000, i)) }));
    await env.trees.write(env.trees.emptyRoot, big, 0);
    const keep = await env.trees.write(env.trees.emptyRoot, [{ key: encodeValue('x'), val: encodeBytes(randomBytes(5000, 99)) }], -1);
    const before = await env.store.diskBytes();
    const report = await env.gc.run();
    const after = await env.store.diskBytes();
    expect(report.segmentsCompacted).toBe(1);
    expect(before - after).toBeGreaterThan(7_000_000);
    expect((await env.trees.get(keep, encodeValue('x')))?.length).toBe(5003);
  });
});

describe('node records in the segments', () => {
  const cold = (): Trees => new Trees(env.store, env.store, { cacheBytes: 1024 * 1024 });

  it('returns the space of dead nodes to the filesystem; moved deltas and their keyframes still rebuild, and writes on them stay deltas', async () => {
    const value = (i: number, tag: string): string => `${tag} ${i} `.padEnd(300, '.');
    const base = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 3000 }, (_, i) => put(i, value(i, 'base'))), 0);
    // The kept tree replaces a few entries of base: its nodes are deltas against base's nodes.
    const keep = await env.trees.write(base, [put(10, 'ten'), put(1500, 'mid'), put(2990, 'end')], -1);
    for (let g = 0; g < 6; g++) await env.trees.write(env.trees.emptyRoot, Array.from({ length: 3000 }, (_, i) => put(i, value(i, `garbage ${g}`))), 0);
    const ids: Uint8Array[] = [];
    for await (const node of cold().walk(keep)) ids.push(node.id);
    expect((await env.store.readNodes(ids)).filter((n) => n !== undefined && n.keyframe !== null).length).toBeGreaterThan(0);
    const before = await env.store.diskBytes();
    const report = await env.gc.run();
    expect(report.segmentsCompacted).toBe(1);
    expect(before - (await env.store.diskBytes())).toBeGreaterThan(3_000_000);
    const have = await stored(env.store);
    for (const id of await kept(env, keep)) expect(have.has(id)).toBe(true);
    // A fresh store knows nodes only from their index entries, relocated ones included.
    await env.store.close();
    await reopenEnv();
    const next = await env.trees.write(keep, [put(11, 'eleven')], -1);
    expect(env.store.stats.recordBytesWritten).toBeLessThan(env.store.stats.bytesWritten / 2);
    const changes = new Map<number, string>([[10, 'ten'], [1500, 'mid'], [2990, 'end']]);
    expect(await contents(keep)).toEqual(Array.from({ length: 3000 }, (_, i) => changes.get(i) ?? value(i, 'base')));
    changes.set(11, 'eleven');
    expect(await contents(next)).toEqual(Array.from({ length: 3000 }, (_, i) => changes.get(i) ?? value(i, 'base')));
  });

  it('records a crash left without their index entries (between the segment sync and the batch) stay invisible, and are reclaimed', async () => {
    const kept = await env.trees.write(env.trees.emptyRoot, [put('kept', 1)], -1);
    const orphan = Buffer.alloc(2_000_000, 5);
    const orphanId = idOf(orphan);
    await env.store.segments.appendMany([{ id: orphanId, bytes: orphan }]);
    await env.store.segments.sync();
    await env.store.close();
    await reopenEnv();
    expect(await env.store.getBlock(orphanId)).toBeUndefined();
    expect(await env.store.hasBlock(orphanId)).toBe(false);
    const before = await env.store.diskBytes();
    const report = await env.gc.run();
    expect(report.segmentsCompacted).toBe(1);
    expect(before - (await env.store.diskBytes())).toBeGreaterThan(orphan.length * 0.9);
    expect(decodeValue((await cold().get(kept, encodeValue('kept'))) as Uint8Array)).toBe(1);
  });

  it('reads, writes on and collects a layout-3 store, whose node records are in LevelDB', async () => {
    const v1 = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 3000 }, (_, i) => put(i, `v1 ${i}`)), 0);
    const v2 = await env.trees.write(v1, Array.from({ length: 20 }, (_, i) => put(i * 150, `v2 ${i}`)), 0);
    await env.store.close();
    await toLayout3(env.dir);
    await reopenEnv();
    const legacy = async (): Promise<number> => {
      let n = 0;
      for await (const r of env.store.nodeLocations()) if (r.at === undefined) n++;
      return n;
    };
    const before = await legacy();
    expect(before).toBeGreaterThan(10);
    expect(decodeValue((await cold().get(v1, encodeValue(150))) as Uint8Array)).toBe('v1 150');
    expect(decodeValue((await cold().get(v2, encodeValue(150))) as Uint8Array)).toBe('v2 1');
    // A write on a base stored in LevelDB stores its nodes as deltas against it, in the segments.
    const stats = { ...env.store.stats };
    const v3 = await env.trees.write(v2, [put(151, 'v3')], -1);
    expect(env.store.stats.recordBytesWritten - stats.recordBytesWritten).toBeLessThan((env.store.stats.bytesWritten - stats.bytesWritten) / 2);
    await env.gc.run();
    const after = await legacy();
    expect(after).toBeLessThan(before);
    const have = await stored(env.store);
    const needed = await kept(env, v3);
    for (const id of needed) expect(have.has(id)).toBe(true);
    expect(have.size).toBe(needed.size);
    await env.store.close();
    await reopenEnv();
    expect(await contents(v3)).toEqual(Array.from({ length: 3000 }, (_, i) => (i === 151 ? 'v3' : i % 150 === 0 ? `v2 ${i / 150}` : `v1 ${i}`)));
  });
});

/** Every value of a tree in key order, read through a cold cache. */
async function contents(root: Uint8Array): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const e of new Trees(env.store, env.store, { cacheBytes: 1024 * 1024 }).entries(root)) out.push(decodeValue(e.val));
  return out;
}

/** A fresh store on the same directory: it knows nodes only from what is on disk. */
async function reopenEnv(): Promise<void> {
  const store = await BlockStore.open(env.dir, logger);
  env = { ...env, store, trees: new Trees(store, store, { cacheBytes: 1024 * 1024 }), gc: new Collector(store, { graceMs: 0, intervalMs: 0, logger }) };
}

/**
 * Rewrites a closed store the way layout 3 kept it: every node record in LevelDB under `b`, no
 * `n` entries, no segments (the store must hold no blobs), version 3.
 */
async function toLayout3(dir: string): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const ops: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }> = [];
  for await (const [k, v] of db.iterator({ gt: Buffer.from('n'), lt: Buffer.from('o') })) {
    const at = decodeLocation(v.subarray(0, 16));
    const fh = await open(join(dir, 'segments', `${String(at.segment).padStart(8, '0')}.seg`), 'r');
    const record = Buffer.alloc(at.length);
    await fh.read(record, 0, at.length, at.offset);
    await fh.close();
    ops.push({ type: 'put', key: Buffer.concat([Buffer.from('b'), k.subarray(1)]), value: record }, { type: 'del', key: k });
  }
  ops.push({ type: 'put', key: Buffer.from('mv'), value: Buffer.from([3]) });
  await db.batch(ops);
  await db.close();
  await rm(join(dir, 'segments'), { recursive: true });
}

describe('garbage collection racing with writes', () => {
  it('never leaves an acknowledged root broken: writes on live roots go on, writes on dead ones are refused whole', async () => {
    const base = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 5000 }, (_, i) => put(i, `base ${i}`)), -1);
    // A tree nothing pins (grace 0): a write building on it races with its sweep.
    const dead = await env.trees.write(base, Array.from({ length: 3000 }, (_, i) => put(100_000 + i, `dead ${i}`)), 0);
    // Garbage nothing builds on, so that every collection has something to free.
    for (let g = 0; g < 3; g++) await env.trees.write(base, Array.from({ length: 500 }, (_, i) => put(i * 7 + g, `garbage ${g}`)), 0);
    const acked: Uint8Array[] = [];
    const refused: string[] = [];
    let liveRoot = base;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < 300 && !stop; i++) {
        const onDead = i % 2 === 1;
        try {
          const next = await env.trees.write(onDead ? dead : liveRoot, [put(200_000 + i, `w${i}`)], -1);
          acked.push(next);
          if (!onDead) liveRoot = next;
        } catch (e) {
          refused.push((e as { code?: string }).code ?? String(e));
        }
      }
    })();
    const reports = [];
    for (let r = 0; r < 3; r++) reports.push(await env.gc.run());
    stop = true;
    await writer;
    await env.gc.run();
    expect(reports.some((x) => x.freedBlocks > 0)).toBe(true);
    expect(new Set(refused)).toEqual(refused.length === 0 ? new Set() : new Set(['NOTFOUND']));
    const have = await stored(env.store);
    for (const root of acked) for (const id of await reachable(env, root)) expect(have.has(id)).toBe(true);
  }, 120_000);
});

describe('garbage collection against a model', () => {
  for (const seed of [11, 12, 13]) {
    it(`random writes, pins, expiries, variables and collections (seed ${seed})`, async () => {
      const rand = prng(seed);
      const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
      const live = new Map<string, { root: Uint8Array; until: number }>();
      const all: Uint8Array[] = [env.trees.emptyRoot];
      const vars = new Map<string, Uint8Array>();
      for (let step = 0; step < 60; step++) {
        const op = rand();
        const now = Date.now();
        if (op < 0.5) {
          const from = pick(all);
          const ttl = pick([0, -1, 20, 5000]);
          const muts = Array.from({ length: 1 + Math.floor(rand() * 200) }, () => {
            const k = Math.floor(rand() * 3000);
            return rand() < 0.2 ? { key: encodeValue(k), val: null } : { key: encodeValue(k), val: rand() < 0.1 ? encodeBytes(Buffer.alloc(2000 + k, k % 251)) : encodeValue(`v${step}`) };
          });
          try {
            const root = await env.trees.write(from, muts, ttl);
            all.push(root);
            if (ttl !== 0) live.set(idKey(root), { root, until: Math.max(live.get(idKey(root))?.until ?? 0, ttl === -1 ? Infinity : now + ttl) });
          } catch (e) {
            expect((e as { code?: string }).code).toBe('NOTFOUND');
          }
        } else if (op < 0.6) {
          const root = pick(all);
          try {
            await env.trees.persist(root, 5000);
            live.set(idKey(root), { root, until: Math.max(live.get(idKey(root))?.until ?? 0, now + 5000) });
          } catch (e) {
            expect((e as { code?: string }).code).toBe('NOTFOUND');
          }
        } else if (op < 0.7) {
          // A variable keeps what it names alive if it is still there; a collected id just dangles.
          const name = pick(['a', 'b']);
          const root = pick(all);
          await env.store.commit({ vars: [{ name: Buffer.from(name), value: Buffer.from(root) }] });
          if (root === env.trees.emptyRoot || (await env.store.hasBlock(root))) vars.set(name, root);
          else vars.delete(name);
        } else if (op < 0.8) {
          await new Promise((r) => setTimeout(r, 25));
        } else {
          // Unpinned roots of this very millisecond are still within the (zero) grace period.
          await new Promise((r) => setTimeout(r, 2));
          await env.gc.run();
          const have = await stored(env.store);
          const expected = new Set<string>();
          const t = Date.now();
          const roots = [...[...live.values()].filter((l) => l.until > t).map((l) => l.root), ...vars.values()];
          for (const root of roots) for (const id of await kept(env, root)) {
            expect(have.has(id)).toBe(true);
            expected.add(id);
          }
          // Everything else is gone (pins that expired during the run may still be counted live).
          const extra = [...have].filter((id) => !expected.has(id));
          const maybe = new Set<string>();
          for (const l of live.values()) if (l.until <= t && l.until > t - 1000) for (const id of await kept(env, l.root).catch(() => new Set<string>())) maybe.add(id);
          const unexplained = extra.filter((id) => !maybe.has(id));
          expect(unexplained).toEqual([]);
        }
      }
    }, 60_000);
  }
});
