import { describe, expect, it } from 'vitest';
import { Float, encodeValue } from '../../src/codec/index.ts';
import { idKey } from '../../src/store/id.ts';
import { NodeLoader } from '../../src/tree/loader.ts';
import { EMPTY_NODE } from '../../src/tree/node.ts';
import { range } from '../../src/tree/range.ts';
import { getSync, rangeSync } from '../../src/tree/read.ts';
import { apply, memoryTrees, prng, put } from './helpers.ts';

const hex = (es: Array<{ key: Uint8Array; val: Uint8Array }>): string[] => es.map((e) => `${Buffer.from(e.key).toString('hex')}=${Buffer.from(e.val).toString('hex')}`);

describe('rangeSync', { timeout: 60_000 }, () => {
  it('returns what range does for any bounds, or undefined past the limit or off the cache', async () => {
    const t = memoryTrees();
    const rnd = prng(7);
    // Integer keys of every width, floats between them, and strings after: every branch of the order.
    const keys = new Set<number>();
    while (keys.size < 3000) keys.add(Math.floor((rnd() - 0.3) * 200_000));
    let root = await apply(t, EMPTY_NODE, [...keys].map((k) => put(k, `v${k}`)));
    root = await apply(t, root, [put(new Float(0.5), 'half'), put('zz', 'text')]);
    expect(root.level).toBeGreaterThan(1);
    // The integer fast path of the node search finds every key, and nothing between them.
    for (const k of [...keys].slice(0, 500)) {
      expect(getSync(t.loader, root, encodeValue(k))).toEqual(encodeValue(`v${k}`));
      if (!keys.has(k + 1)) expect(getSync(t.loader, root, encodeValue(k + 1))).toBeUndefined();
    }
    const upToZero = [...keys].filter((k) => k <= 0).sort((a, b) => a - b).map((k) => Buffer.from(encodeValue(k)).toString('hex'));
    expect(hex(rangeSync(t.loader, root, { max: { key: encodeValue(new Float(0.25)), inclusive: true } }, 5000) ?? []).map((e) => e.split('=')[0])).toEqual(upToZero);
    const bound = (): { key: Uint8Array; inclusive: boolean } | undefined => {
      const r = rnd();
      if (r < 0.1) return undefined;
      const k = r < 0.5 ? [...keys][Math.floor(rnd() * keys.size)] : Math.floor((rnd() - 0.3) * 200_000);
      return { key: encodeValue(r > 0.95 ? new Float(k + 0.5) : k), inclusive: rnd() < 0.5 };
    };
    for (let i = 0; i < 300; i++) {
      let min = bound();
      let max = bound();
      if (i % 3 === 0 && min !== undefined) max = { key: min.key, inclusive: rnd() < 0.5 };
      if (i % 7 === 0) min = undefined;
      const want: Array<{ key: Uint8Array; val: Uint8Array }> = [];
      for await (const e of range(t.loader, root, { min, max })) want.push(e);
      const got = rangeSync(t.loader, root, { min, max }, 5000);
      expect(got === undefined ? undefined : hex(got)).toEqual(hex(want));
      if (want.length > 3) expect(rangeSync(t.loader, root, { min, max }, want.length - 1)).toBeUndefined();
    }
    // A loader that has cached nothing answers nothing synchronously.
    const cold = new NodeLoader(t.blocks, 64 * 1024 * 1024);
    const coldRoot = await cold.child(root.id);
    expect(t.blocks.blocks.has(idKey(root.id))).toBe(true);
    expect(rangeSync(cold, coldRoot, { min: { key: encodeValue(5), inclusive: true }, max: { key: encodeValue(9), inclusive: true } }, 100)).toBeUndefined();
  });
});
