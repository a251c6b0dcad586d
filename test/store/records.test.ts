import { afterEach, describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/codec/index.ts';
import { Collector } from '../../src/gc/collector.ts';
import { BlockStore, FOREVER } from '../../src/store/blockstore.ts';
import { type Id, idToText } from '../../src/store/id.ts';
import { Trees } from '../../src/tree/index.ts';
import { keyLevel } from '../../src/tree/level.ts';
import { type Env, logger, openEnv, reachable, stored } from '../gc/helpers.ts';
import { prng } from '../helpers/prng.ts';

const put = (k: unknown, v: unknown) => ({ key: encodeValue(k as never), val: encodeValue(v as never) });
const info = (store: BlockStore, field: string): number => Number(store.info().find(([k]) => k === field)?.[1]);

let env: Env;
afterEach(async () => {
  await env.close();
});

/** A second store on the same directory, after the first closed: nothing cached survives. */
let deltasWritten = 0;
async function reopen(): Promise<Trees> {
  deltasWritten += info(env.store, 'store_deltas_written');
  await env.store.close();
  env.store = await BlockStore.open(env.dir, logger);
  env.gc = new Collector(env.store, { graceMs: 0, intervalMs: 0, logger });
  env.trees = new Trees(env.store, env.store, { cacheBytes: 1024 * 1024 });
  return env.trees;
}

async function contents(trees: Trees, root: Id): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of trees.range(root)) out.set(Buffer.from(e.key).toString('hex'), Buffer.from(e.val).toString('hex'));
  return out;
}

describe('nodes stored as deltas (docs/format.md §8.1)', () => {
  it('a one-key write into a large tree stores a fraction of the bytes of the nodes it creates, and reads back after a reopen', async () => {
    env = await openEnv();
    const base = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 20_000 }, (_, i) => put(`key:${i}`, `value ${i}`)), -1);
    const wholeBefore = info(env.store, 'store_bytes_written');
    const recordsBefore = info(env.store, 'store_node_record_bytes');
    const roots: Id[] = [];
    for (let i = 0; i < 50; i++) roots.push(await env.trees.write(base, [put(`key:${i * 397}`, `changed ${i}`)], -1));
    const nodeBytes = info(env.store, 'store_bytes_written') - wholeBefore;
    const recordBytes = info(env.store, 'store_node_record_bytes') - recordsBefore;
    expect(info(env.store, 'store_deltas_written')).toBeGreaterThan(50);
    expect(recordBytes * 5).toBeLessThan(nodeBytes);
    const trees = await reopen();
    for (let i = 0; i < 50; i += 7) {
      expect(await trees.get(roots[i], encodeValue(`key:${i * 397}`))).toEqual(encodeValue(`changed ${i}`));
      expect((await contents(trees, roots[i])).size).toBe(20_000);
    }
  });

  it('the collector keeps the keyframes of live deltas, though the trees they came from are gone', async () => {
    env = await openEnv();
    const old = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 5000 }, (_, i) => put(i, `v${i}`.repeat(8))), 1);
    const live = await env.trees.write(old, [put(17, 'new'), put(4000, 'new too')], -1);
    expect(info(env.store, 'store_deltas_written')).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 5));
    await env.gc.run();
    const needed = await reachable(env, live);
    const after = await stored(env.store);
    // What survives beyond the live tree is the old path nodes the new ones are stored against.
    expect(after.size).toBeGreaterThan(needed.size);
    expect(after.size).toBeLessThan(needed.size + 10);
    const trees = await reopen();
    expect((await contents(trees, live)).size).toBe(5000);
  });

  it('a node written again is left as stored, so the deltas against it stay readable', async () => {
    env = await openEnv();
    // Keys of level 0: one leaf holds them all.
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`).filter((k) => keyLevel(encodeValue(k)) === 0).slice(0, 12);
    const entries = (changed: string) => keys.map((k, i) => put(k, i === 5 ? changed : `${k} `.repeat(20)));
    const other = await env.trees.write(env.trees.emptyRoot, entries('w'), -1);
    const t0 = await env.trees.write(env.trees.emptyRoot, entries('n'), -1);
    expect((await env.trees.root(t0)).level).toBe(0);
    const t1 = await env.trees.write(t0, [put(keys[6], 'x')], -1);
    // The same leaf as t0's, now built from `other`'s leaf: a delta of it would replace t0's record.
    const t2 = await env.trees.write(other, [put(keys[5], 'n')], -1);
    expect(idToText(t2)).toBe(idToText(t0));
    const trees = await reopen();
    expect((await contents(trees, t1)).size).toBe(12);
    expect(await trees.get(t1, encodeValue(keys[6]))).toEqual(encodeValue('x'));
  });

  it('a store that never read a delta-stored base learns its keyframe from the index entry, also after the collector moved it', async () => {
    env = await openEnv();
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`).filter((k) => keyLevel(encodeValue(k)) === 0).slice(0, 12);
    const leaf = (changes: Record<string, string>) => keys.map((k) => put(k, changes[k] ?? `${k} `.repeat(20)));
    // Garbage first, so that the segment holding the leaves below is mostly dead and gets rewritten.
    for (let g = 0; g < 3; g++) await env.trees.write(env.trees.emptyRoot, Array.from({ length: 3000 }, (_, i) => put(i, `garbage ${g} `.repeat(10))), 0);
    const t0 = await env.trees.write(env.trees.emptyRoot, leaf({}), -1);
    const t1 = await env.trees.write(t0, leaf({ [keys[6]]: 'x' }), -1);
    const t1Bytes = (await env.trees.root(t1)).bytes;
    expect((await env.store.readNodes([t1]))[0]?.keyframe).toEqual(t0);
    await new Promise((r) => setTimeout(r, 3));
    expect((await env.gc.run()).segmentsCompacted).toBe(1);
    // The next leaf's bytes, from a scratch store: same entries, same node (history independence).
    const scratch = await openEnv();
    const t2 = await scratch.trees.write(scratch.trees.emptyRoot, leaf({ [keys[6]]: 'x', [keys[7]]: 'y' }), -1);
    const t2Bytes = (await scratch.trees.root(t2)).bytes;
    await scratch.close();
    await reopen();
    // t1 is given as the base without being read through the store: only its index entry says it is a delta against t0.
    await env.store.commit({ blocks: [{ id: t2, bytes: t2Bytes, base: { id: t1, bytes: t1Bytes } }], pins: [{ root: t2, until: FOREVER }] });
    const [stored2] = await env.store.readNodes([t2]);
    expect(stored2?.keyframe).toEqual(t0);
    const trees = await reopen();
    expect(await trees.get(t2, encodeValue(keys[7]))).toEqual(encodeValue('y'));
    expect((await contents(trees, t2)).size).toBe(12);
  });

  it('a node this run wrote holds how it is stored, as the index says, also once a fork stores its base whole again', async () => {
    env = await openEnv();
    const random = prng(11);
    const base = await env.trees.write(env.trees.emptyRoot, Array.from({ length: 3000 }, (_, i) => put(i, `value ${i} `.repeat(3))), -1);
    let tip = base;
    const check = async (root: Id): Promise<{ deltas: number; whole: number }> => {
      let deltas = 0;
      let whole = 0;
      for await (const node of env.trees.walk(root)) {
        if (node.stored === undefined) continue;
        const [onDisk] = await env.store.readNodes([node.id]);
        expect(node.stored.keyframe === null ? null : idToText(node.stored.keyframe)).toBe(onDisk?.keyframe === null || onDisk === undefined ? null : idToText(onDisk.keyframe));
        if (node.stored.keyframe === null) whole++;
        else deltas++;
      }
      return { deltas, whole };
    };
    for (let w = 0; w < 30; w++) tip = await env.trees.write(tip, Array.from({ length: 10 }, () => put(Math.floor(random() * 3000), `w${w}`)), -1);
    const chain = await check(tip);
    expect(chain.deltas).toBeGreaterThan(10);
    // Two more writes on the same tip: the second promotes the bases the first replaced.
    const a = await env.trees.write(tip, [put(5, 'a')], -1);
    const b = await env.trees.write(tip, [put(5, 'b')], -1);
    expect((await check(tip)).whole).toBeGreaterThan(chain.whole);
    await check(a);
    await check(b);
    const trees = await reopen();
    expect(await trees.get(b, encodeValue(5))).toEqual(encodeValue('b'));
    expect((await contents(trees, tip)).size).toBe(3000);
  });

  it('a chain of inserts into one leaf starts a new keyframe once its deltas cost as many bytes as the keyframe', async () => {
    env = await openEnv();
    // Keys of level 0: one leaf holds them all, and every insert grows the next delta.
    const keys = Array.from({ length: 400 }, (_, i) => `k${i}`).filter((k) => keyLevel(encodeValue(k)) === 0).slice(0, 120);
    let tip = await env.trees.write(env.trees.emptyRoot, keys.slice(0, 20).map((k) => put(k, `${k} `.repeat(6))), -1);
    const spentOn = new Map<string, number>();
    for (const k of keys.slice(20)) {
      tip = await env.trees.write(tip, [put(k, `${k} `.repeat(6))], -1);
      const [stored] = await env.store.readNodes([tip]);
      expect(stored).toBeDefined();
      if (stored?.keyframe == null) continue;
      const kf = idToText(stored.keyframe);
      const node = await env.trees.root(tip);
      const record = node.stored?.delta?.length ?? 0;
      expect(record).toBeGreaterThan(0);
      spentOn.set(kf, (spentOn.get(kf) ?? 0) + record);
      // A delta is kept only while its chain has cost at most the node it replaces (inserts: smaller than this one).
      expect(spentOn.get(kf)).toBeLessThanOrEqual(node.bytes.length);
    }
    expect(spentOn.size).toBeGreaterThan(2);
    const trees = await reopen();
    expect((await contents(trees, tip)).size).toBe(120);
  });

  it('random writes, expiries, collections and reopens never lose a pinned tree (property)', async () => {
    env = await openEnv();
    deltasWritten = 0;
    const rand = prng(9);
    const model = new Map<string, { root: Id; entries: Map<number, number> }>();
    let roots: Array<{ root: Id; entries: Map<number, number> }> = [{ root: env.trees.emptyRoot, entries: new Map() }];
    for (let step = 0; step < 120; step++) {
      const from = roots[Math.floor(rand() * roots.length)];
      const entries = new Map(from.entries);
      const muts = [];
      // Large writes store whole nodes, which small ones then store deltas against.
      const n = rand() < 0.3 ? 100 + Math.floor(rand() * 300) : 1 + Math.floor(rand() * 6);
      for (let i = 0; i < n; i++) {
        const k = Math.floor(rand() * 3000);
        if (rand() < 0.2) {
          entries.delete(k);
          muts.push({ key: encodeValue(k), val: null });
        } else {
          const v = Math.floor(rand() * 1e6);
          entries.set(k, v);
          muts.push(put(k, `value ${v} `.repeat(3)));
        }
      }
      const keep = rand() < 0.5;
      const root = await env.trees.write(from.root, muts, keep ? -1 : 1);
      const t = { root, entries };
      if (keep) model.set(idToText(root), t);
      roots.push(t);
      if (step % 17 === 16) {
        await new Promise((r) => setTimeout(r, 3));
        await env.gc.run();
        roots = [...model.values(), { root: env.trees.emptyRoot, entries: new Map() }];
      }
      if (step % 40 === 39) {
        await reopen();
        roots = [...model.values(), { root: env.trees.emptyRoot, entries: new Map() }];
      }
    }
    await new Promise((r) => setTimeout(r, 3));
    await env.gc.run();
    const trees = await reopen();
    expect(deltasWritten).toBeGreaterThan(50);
    for (const { root, entries } of model.values()) {
      const got = await contents(trees, root);
      expect(got.size).toBe(entries.size);
      for (const [k, v] of entries) expect(got.get(Buffer.from(encodeValue(k)).toString('hex'))).toBe(Buffer.from(encodeValue(`value ${v} `.repeat(3))).toString('hex'));
    }
  });
});
