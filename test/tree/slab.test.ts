import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/codec/index.ts';
import { EMPTY_NODE, TreeNode } from '../../src/tree/node.ts';
import { type Slab, type Tenant, nodeArrays, nodeSpace, settle, vacate, wordArray } from '../../src/tree/slab.ts';
import { apply, memoryTrees } from './helpers.ts';

/** Pieces carved until the slab being filled is another one: the slab of the first piece is full. */
function fullSlab(pieces: number): Array<{ slab: Slab | null }> {
  const first = nodeSpace(900, 4, false);
  const out = [first];
  for (let i = 1; i < pieces; i++) out.push(nodeSpace(900, 4, false));
  while (nodeSpace(900, 4, false).slab === first.slab);
  return out;
}

class Counted implements Tenant {
  tenantAt = -1;
  moves = 0;
  relocate(): void {
    this.moves++;
  }
}

describe('slabs', () => {
  it('carve nodes built together out of one slab, aligned and apart', () => {
    const a = nodeSpace(100, 3, true);
    const b = nodeSpace(50, 2, false);
    expect(b.bytes.buffer).toBe(a.bytes.buffer);
    for (const view of [a.bytes, a.keyStart, a.valStart, a.counts, a.sizes, b.bytes, b.keyStart, b.valStart]) {
      expect((view?.byteOffset ?? 0) % 8).toBe(0);
    }
    a.bytes.fill(1);
    b.bytes.fill(2);
    expect(a.bytes.every((x) => x === 1)).toBe(true);
    expect(nodeArrays(4, false).keyStart.buffer).toBe(a.bytes.buffer);
  });

  it('keep search words measured later out of the slab of the nodes being built then', () => {
    // A long-lived node read while short-lived ones are built would keep their slab alive.
    const built = nodeSpace(100, 3, false);
    const words = wordArray(16);
    expect(words.buffer).not.toBe(built.bytes.buffer);
    expect(nodeSpace(100, 3, false).bytes.buffer).not.toBe(words.buffer);
    expect(wordArray(16).buffer).toBe(words.buffer);
  });

  it('move a slab\'s last cached nodes out once fewer than half of the nodes carved from it are left', () => {
    const pieces = fullSlab(20);
    const slab = pieces[0].slab as Slab;
    const carved = slab.carved;
    expect(carved).toBeGreaterThanOrEqual(20);
    const tenants = Array.from({ length: carved }, () => new Counted());
    for (const t of tenants) settle(slab, t);
    // Odd places first: leaving from the middle keeps every other tenant's place right.
    const order = [...tenants.filter((_, i) => i % 2 === 1), ...tenants.filter((_, i) => i % 2 === 0)];
    let left = 0;
    while ((carved - left - 1) * 2 >= carved) vacate(slab, order[left++]);
    expect(tenants.every((t) => t.moves === 0)).toBe(true);
    vacate(slab, order[left++]);
    const gone = new Set(order.slice(0, left));
    const rest = tenants.filter((t) => !gone.has(t));
    expect(rest.length).toBe(carved - left);
    expect(rest.every((t) => t.moves === 1)).toBe(true);
    expect([...gone].every((t) => t.moves === 0 && t.tenantAt === -1)).toBe(true);
    expect(slab.tenants).toEqual([]);
  });

  it('never move nodes out of the slab still being filled', () => {
    const first = nodeSpace(100, 1, false);
    const slab = first.slab as Slab;
    const tenants = [new Counted(), new Counted(), new Counted()];
    for (const t of tenants) settle(slab, t);
    vacate(slab, tenants[0]);
    vacate(slab, tenants[1]);
    expect(tenants[2].moves).toBe(0);
  });

  it('a moved node has the same bytes and entries in memory of another slab, and its old views stay as they were', async () => {
    const t = memoryTrees();
    const root = await apply(t, EMPTY_NODE, Array.from({ length: 3000 }, (_, i) => ({ key: encodeValue(i), val: encodeValue(`v${i}`) })));
    const built = (await t.loader.child(root.child(1))) as TreeNode;
    const parsed = TreeNode.parse(Buffer.from(built.id), Uint8Array.from(built.bytes));
    for (const node of [root, built, parsed]) {
      const { bytes, keyStart, home } = node;
      const before = Buffer.from(bytes);
      const keys = Array.from({ length: node.length }, (_, i) => Buffer.from(node.key(i)));
      const counts = Array.from(node.counts ?? []);
      const sizes = Array.from(node.sizes ?? []);
      fullSlab(1);
      node.relocate();
      expect(node.home).not.toBe(home);
      expect(Buffer.from(node.bytes)).toEqual(before);
      expect(node.bytes === bytes).toBe(node === parsed);
      expect(node.keyStart.buffer).not.toBe(keyStart.buffer);
      expect(Array.from({ length: node.length }, (_, i) => Buffer.from(node.key(i)))).toEqual(keys);
      expect(Array.from(node.counts ?? [])).toEqual(counts);
      expect(Array.from(node.sizes ?? [])).toEqual(sizes);
      expect(Buffer.from(bytes)).toEqual(before);
    }
    expect(root.counts).not.toBeNull();
  });
});
