import { encodeValue } from '../../src/codec/index.ts';

/** A leaf-shaped node: array head, version and level, then sorted key/value entries. */
export function leaf(entries: Map<number, string>): Buffer {
  const keys = [...entries.keys()].sort((a, b) => a - b);
  const items = 2 + 2 * keys.length;
  const head = items <= 15 ? Buffer.from([0x90 | items]) : Buffer.from([0xdc, items >> 8, items & 0xff]);
  const parts = keys.flatMap((k) => [encodeValue(`key:${String(k).padStart(12, '0')}`), encodeValue(entries.get(k) as string)]);
  return Buffer.concat([head, Buffer.from([1, 0]), ...parts]);
}

/** `edits` random inserts (half), value changes and deletes of `entries`, as a new map. */
export function edit(entries: Map<number, string>, edits: number, r: () => number): Map<number, string> {
  const out = new Map(entries);
  for (let e = 0; e < edits; e++) {
    const roll = r();
    const keys = [...out.keys()];
    if (roll < 0.5) out.set(Math.floor(r() * 1e9), `v${r()}`.padEnd(32, 'x'));
    else if (roll < 0.8) out.set(keys[Math.floor(r() * keys.length)], `w${r()}`.padEnd(20 + Math.floor(r() * 30), 'y'));
    else if (keys.length > 1) out.delete(keys[Math.floor(r() * keys.length)]);
  }
  return out;
}

/** 10 to 80 entries with random keys and padded values. */
export function randomLeaf(r: () => number): Map<number, string> {
  const entries = new Map<number, string>();
  for (let i = 10 + Math.floor(r() * 70); i > 0; i--) entries.set(Math.floor(r() * 1e9), `v${r()}`.padEnd(32, 'x'));
  return entries;
}
