import { describe, expect, it } from 'vitest';
import { Float, Tuple, compareEncoded, encodeBytes, encodeValue } from '../../src/codec/index.ts';
import { mutate, normalize } from '../../src/tree/mutate.ts';
import { EMPTY_NODE, type TreeNode } from '../../src/tree/node.ts';
import { memoryTrees, prng } from './helpers.ts';

/** What lowerBound must return: the first entry at or after `from` whose key is >= `key`. */
function naive(node: TreeNode, key: Uint8Array, from: number): number {
  let i = from;
  while (i < node.length && node.compareKey(key, i) > 0) i++;
  return i;
}

/** lowerBound and compareKey against the codec's own order (compareEncoded), not the node's. */
function agreesWithCodec(node: TreeNode, probes: Uint8Array[], rand: () => number): void {
  for (const probe of probes) {
    let i = 0;
    while (i < node.length && compareEncoded(probe, node.key(i)) > 0) i++;
    expect(node.lowerBound(probe)).toBe(i);
    const j = Math.floor(rand() * node.length);
    expect(Math.sign(node.compareKey(probe, j))).toBe(Math.sign(compareEncoded(probe, node.key(j))));
  }
}

/** Keys that share long prefixes (so nodes do), in one family or mixed with others. */
function keyMaker(rand: () => number, mixed: boolean): () => Uint8Array {
  const digits = (n: number): string => String(Math.floor(rand() * n)).padStart(6, '0');
  return () => {
    const r = rand();
    if (!mixed || r < 0.4) return encodeValue(`key:000${digits(1000)}`);
    if (r < 0.6) return encodeBytes(Buffer.from(`key:000${digits(1000)}${rand() < 0.3 ? 'x' : ''}`));
    if (r < 0.7) return encodeValue(Math.floor(rand() * 1000));
    if (r < 0.8) return encodeValue(`key:000${digits(1000)}-a-string-longer-than-31-bytes`);
    if (r < 0.9) return encodeValue(`k${digits(10)}`);
    return encodeBytes(Buffer.alloc(Math.floor(rand() * 4), 0x6b));
  };
}

describe('TreeNode.lowerBound', () => {
  for (const mixed of [false, true]) {
    it(`agrees with a linear scan on every node, for keys inside, between and outside them (${mixed ? 'mixed key types' : 'one key type'})`, async () => {
      const rand = prng(mixed ? 7 : 3);
      const t = memoryTrees();
      const make = keyMaker(rand, mixed);
      const muts = Array.from({ length: 3000 }, () => ({ key: make(), val: encodeValue(1) }));
      const r = await mutate(t.loader, EMPTY_NODE, normalize(muts));
      expect(r.created.length).toBeGreaterThan(10);
      for (const node of r.created) {
        const probes = [...Array.from({ length: 40 }, make), ...Array.from({ length: node.length }, (_, i) => node.key(i))];
        for (const probe of probes) {
          const from = rand() < 0.3 ? Math.floor(rand() * (node.length + 1)) : 0;
          expect(node.lowerBound(probe, from)).toBe(naive(node, probe, from));
        }
      }
    });
  }

  it('agrees with the codec order on tuple keys led by small integers and by other values (SQL index keys)', async () => {
    const rand = prng(11);
    const t = memoryTrees();
    const lead = (): unknown => {
      const r = rand();
      if (r < 0.6) return Math.floor(rand() * 400) - 200;
      if (r < 0.7) return 2 ** 40 + Math.floor(rand() * 3);
      if (r < 0.8) return new Float(Math.floor(rand() * 400) - 200);
      if (r < 0.9) return `s${Math.floor(rand() * 50)}`;
      return (2n ** 63n) - BigInt(Math.floor(rand() * 3));
    };
    const make = (): Uint8Array => encodeValue(new Tuple(rand() < 0.05 ? [] : [lead() as number, Math.floor(rand() * 100_000)]));
    const muts = Array.from({ length: 3000 }, () => ({ key: make(), val: encodeValue(null) }));
    const r = await mutate(t.loader, EMPTY_NODE, normalize(muts));
    expect(r.created.length).toBeGreaterThan(10);
    for (const node of r.created) agreesWithCodec(node, [...Array.from({ length: 40 }, make), ...Array.from({ length: node.length }, (_, i) => node.key(i))], rand);
  });

  for (const kind of ['integer keys', 'tuples led by integers'] as const) {
    it(`agrees with the codec order on nodes whose keys are all ${kind} (searched through a dense array)`, async () => {
      const rand = prng(kind === 'integer keys' ? 5 : 13);
      const t = memoryTrees();
      const int = (): number => Math.floor(rand() * 2 ** 33) - 2 ** 32;
      const make = (): Uint8Array => encodeValue(kind === 'integer keys' ? int() : new Tuple([Math.floor(rand() * 300) - 150, int()]));
      const muts = Array.from({ length: 3000 }, () => ({ key: make(), val: encodeValue(null) }));
      const r = await mutate(t.loader, EMPTY_NODE, normalize(muts));
      expect(r.created.length).toBeGreaterThan(10);
      // A search key of the other kind (and one a 32-bit integer cannot hold) takes the general path.
      const other = (): Uint8Array => (rand() < 0.5 ? encodeValue(kind === 'integer keys' ? new Tuple([int()]) : int()) : encodeValue(2 ** 40 + int()));
      for (const node of r.created) {
        agreesWithCodec(node, [...Array.from({ length: 40 }, make), ...Array.from({ length: 10 }, other), ...Array.from({ length: node.length }, (_, i) => node.key(i))], rand);
      }
    });
  }
  it('agrees with the codec order where the dense words tie: keys past a long shared prefix that differ only in low bits, zero bytes, keys shorter than the prefix', async () => {
    const rand = prng(17);
    const t = memoryTrees();
    // Prefixes of 1 to 11 bytes (the prefix is kept as 3-byte words, the last one partial); after
    // it, bytes 0-7 and 0x40-0x43, so the 30-bit words drop differences in the low two bits of
    // the fourth byte and zero pads meet zero bytes.
    const tail = (): number[] => Array.from({ length: Math.floor(rand() * 7) }, () => (rand() < 0.5 ? Math.floor(rand() * 8) : 0x40 + Math.floor(rand() * 4)));
    for (const prefixLength of [1, 2, 3, 4, 6, 7, 11]) {
      const prefix = Array.from({ length: prefixLength }, (_, i) => 0x61 + ((i * 7) % 26));
      const make = (): Uint8Array => {
        const bytes = Buffer.from([...prefix, ...tail()]);
        return rand() < 0.5 ? encodeBytes(bytes) : encodeValue(bytes.toString('latin1'));
      };
      const muts = Array.from({ length: 1500 }, () => ({ key: make(), val: encodeValue(1) }));
      const r = await mutate(t.loader, EMPTY_NODE, normalize(muts));
      const short = (): Uint8Array => encodeBytes(Buffer.from(prefix.slice(0, Math.floor(rand() * prefixLength))));
      const off = (): Uint8Array => encodeBytes(Buffer.from([...prefix.slice(0, -1), prefix[prefixLength - 1] + (rand() < 0.5 ? 1 : -1), ...tail()]));
      for (const node of r.created) {
        const probes = [...Array.from({ length: 40 }, make), ...Array.from({ length: 5 }, short), ...Array.from({ length: 5 }, off), ...Array.from({ length: node.length }, (_, i) => node.key(i))];
        agreesWithCodec(node, probes, rand);
        for (const probe of probes) {
          const from = Math.floor(rand() * (node.length + 1));
          expect(node.lowerBound(probe, from)).toBe(naive(node, probe, from));
          if (node.level > 0) continue;
          const i = node.lowerBound(probe);
          const hit = i < node.length && compareEncoded(probe, node.key(i)) === 0;
          expect(node.valueOf(probe)).toEqual(hit ? node.val(i) : undefined);
        }
      }
    }
  });
});
