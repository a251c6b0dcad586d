import { describe, expect, it } from 'vitest';
import { compareEncoded, decodeValue, encodeValue } from '../../src/codec/index.ts';
import { idKey, idToText } from '../../src/store/id.ts';
import { diff } from '../../src/tree/diff.ts';
import { get } from '../../src/tree/read.ts';
import { range } from '../../src/tree/range.ts';
import { EMPTY_NODE, type TreeNode } from '../../src/tree/node.ts';
import { mutate, normalize } from '../../src/tree/mutate.ts';
import { apply, del, memoryTrees, prng, put } from './helpers.ts';

type Model = Map<string, [Uint8Array, Uint8Array]>;

function modelKey(k: Uint8Array): string {
  return Buffer.from(k).toString('hex');
}

function sortedModel(m: Model): Array<[Uint8Array, Uint8Array]> {
  return [...m.values()].sort((a, b) => compareEncoded(a[0], b[0]));
}

async function collect(t: ReturnType<typeof memoryTrees>, root: TreeNode): Promise<Array<[Uint8Array, Uint8Array]>> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for await (const e of range(t.loader, root)) out.push([e.key, e.val]);
  return out;
}

async function bulk(entries: Array<[Uint8Array, Uint8Array]>): Promise<TreeNode> {
  const t = memoryTrees();
  return apply(t, EMPTY_NODE, entries.map(([key, val]) => ({ key, val })));
}

function randomKey(rnd: () => number, space: number): number | string {
  const n = Math.floor(rnd() * space);
  return rnd() < 0.5 ? n : `k${n}`;
}

describe('history independence', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`random batches of puts and deletes equal a bulk build of the final set (seed ${seed})`, async () => {
      const rnd = prng(seed);
      const t = memoryTrees();
      const model: Model = new Map();
      let root = EMPTY_NODE;
      const space = 3000;
      for (let round = 0; round < 40; round++) {
        const batch = [];
        const size = 1 + Math.floor(rnd() * (round % 5 === 0 ? 800 : 60));
        for (let i = 0; i < size; i++) {
          const k = randomKey(rnd, space);
          if (rnd() < 0.3) {
            const m = del(k);
            batch.push(m);
            model.delete(modelKey(m.key));
          } else {
            const m = put(k, `v${Math.floor(rnd() * 1e6)}`);
            batch.push(m);
            model.set(modelKey(m.key), [m.key, m.val as Uint8Array]);
          }
        }
        root = await apply(t, root, batch);
      }
      const expected = sortedModel(model);
      expect(await collect(t, root)).toEqual(expected);
      expect(root.count).toBe(expected.length);
      const rebuilt = await bulk([...expected].reverse());
      expect(idToText(root.id)).toBe(idToText(rebuilt.id));
    });
  }

  it('deleting everything gives the empty tree', async () => {
    const t = memoryTrees();
    const keys = Array.from({ length: 5000 }, (_, i) => i);
    let root = await apply(t, EMPTY_NODE, keys.map((k) => put(k, k)));
    expect(root.level).toBeGreaterThan(1);
    const rnd = prng(9);
    const order = keys.sort(() => rnd() - 0.5);
    for (let i = 0; i < order.length; i += 700) root = await apply(t, root, order.slice(i, i + 700).map((k) => del(k)));
    expect(idToText(root.id)).toBe(idToText(EMPTY_NODE.id));
  });

  it('one key at a time, in any order, gives the bulk root', async () => {
    const keys = Array.from({ length: 1500 }, (_, i) => `key-${i}`);
    const bulkRoot = await bulk(keys.map((k) => [encodeValue(k), encodeValue(k.length)]));
    const t = memoryTrees();
    let root = EMPTY_NODE;
    const rnd = prng(7);
    for (const k of [...keys].sort(() => rnd() - 0.5)) root = await apply(t, root, [put(k, k.length)]);
    expect(idToText(root.id)).toBe(idToText(bulkRoot.id));
  });
});

describe('reads', () => {
  it('get, range with bounds and reverse agree with a sorted model', async () => {
    const t = memoryTrees();
    const n = 4000;
    const root = await apply(t, EMPTY_NODE, Array.from({ length: n }, (_, i) => put(i * 2, `v${i}`)));
    expect(decodeValue((await get(t.loader, root, encodeValue(10))) as Uint8Array)).toBe('v5');
    expect(await get(t.loader, root, encodeValue(11))).toBeUndefined();
    const rnd = prng(3);
    for (let q = 0; q < 50; q++) {
      const a = Math.floor(rnd() * n * 2);
      const b = a + Math.floor(rnd() * 600);
      const incMin = rnd() < 0.5;
      const incMax = rnd() < 0.5;
      const reverse = rnd() < 0.5;
      const want: number[] = [];
      for (let k = 0; k < n * 2; k += 2) if ((incMin ? k >= a : k > a) && (incMax ? k <= b : k < b)) want.push(k);
      if (reverse) want.reverse();
      const got: number[] = [];
      const opts = { min: { key: encodeValue(a), inclusive: incMin }, max: { key: encodeValue(b), inclusive: incMax }, reverse };
      for await (const e of range(t.loader, root, opts)) got.push(decodeValue(e.key) as number);
      expect(got).toEqual(want);
    }
  });

  it('diff reports exactly the changed keys, in order', async () => {
    const t = memoryTrees();
    const base = await apply(t, EMPTY_NODE, Array.from({ length: 6000 }, (_, i) => put(i, i)));
    const changes = [put(5, 'changed'), del(100), put(100000, 'new'), put(-1, 'new'), del(5999), put(3000, 3000)];
    const next = await apply(t, base, changes);
    const got = [];
    for await (const d of diff(t.loader, base, next)) {
      got.push([decodeValue(d.key), d.before && decodeValue(d.before), d.after && decodeValue(d.after)]);
    }
    expect(got).toEqual([[-1, undefined, 'new'], [5, 5, 'changed'], [100, 100, undefined], [5999, 5999, undefined], [100000, undefined, 'new']]);
  });
});

describe('copied runs (what the store makes deltas from)', () => {
  it('every run a new node reports holds the same bytes in its base, and a one-key update copies all but the new value', async () => {
    const rnd = prng(77);
    const t = memoryTrees();
    let root = await apply(t, EMPTY_NODE, Array.from({ length: 20_000 }, (_, i) => put(`key:${String(i).padStart(8, '0')}`, 'v'.repeat(30))));
    let checked = 0;
    for (let round = 0; round < 60; round++) {
      const muts = Array.from({ length: round % 2 === 0 ? 1 : 1 + Math.floor(rnd() * 300) }, () => {
        const k = `key:${String(Math.floor(rnd() * 25_000)).padStart(8, '0')}`;
        return rnd() < 0.2 ? del(k) : put(k, `w${rnd()}`);
      });
      const r = await mutate(t.loader, root, normalize(muts));
      r.created.forEach((n, i) => {
        const base = r.bases[i];
        const runs = r.copied[i];
        if (base === undefined || runs === undefined) return;
        let covered = 0;
        for (let j = 0; j < runs.length; j += 3) {
          expect(Buffer.from(n.bytes.subarray(runs[j], runs[j] + runs[j + 2]))).toEqual(Buffer.from(base.bytes.subarray(runs[j + 1], runs[j + 1] + runs[j + 2])));
          if (j > 0) expect(runs[j]).toBeGreaterThanOrEqual(runs[j - 3] + runs[j - 1]);
          covered += runs[j + 2];
          checked++;
        }
        // One update: the node is its base but for the new value (and the array head, version, level).
        if (muts.length === 1 && muts[0].val !== null && n.level === 0 && n.length === base.length) expect(covered).toBeGreaterThanOrEqual(n.bytes.length - muts[0].val.length - 3 - 2);
      });
      for (const n of r.created) t.blocks.blocks.set(idKey(n.id), n.bytes);
      root = r.root;
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
