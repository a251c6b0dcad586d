import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Float, Link, type Value, encodeValue } from '../../src/codec/index.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import { type Id, idOf, idToText } from '../../src/store/id.ts';
import { Trees } from '../../src/tree/index.ts';
import { keyLevel } from '../../src/tree/level.ts';
import { MAX_NODE_BYTES, TreeNode } from '../../src/tree/node.ts';

/**
 * Blocks that hash correctly but break a rule of docs/format.md §4–§5, written by hand into a
 * real LevelDB store and read through every public read path. Each case names the reason it
 * must be refused for, so a check that is switched off cannot hide behind another one.
 */

let dir: string;
let store: BlockStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-adversarial-'));
  store = await BlockStore.open(dir, pino({ level: 'silent' }));
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');
const enc = (v: Value): Buffer => encodeValue(v);

/** A canonical array header followed by items that are already encoded (canonically or not). */
function arr(items: Uint8Array[]): Buffer {
  const n = items.length;
  const head = n <= 15 ? hex((0x90 | n).toString(16)) : Buffer.from([0xdc, n >> 8, n & 0xff]);
  return Buffer.concat([head, ...items]);
}

function leaf(...items: Uint8Array[]): Buffer {
  return arr([enc(1), enc(0), ...items]);
}

function internal(level: number, ...items: Uint8Array[]): Buffer {
  return arr([enc(1), enc(level), ...items]);
}

/** What a parent states about a child: its last key, link, entry count and byte size. */
interface Facts {
  key: Uint8Array;
  id: Id;
  count: number;
  size: number;
}

function facts(bytes: Uint8Array): Facts {
  const node = TreeNode.parse(idOf(bytes), bytes);
  return { key: node.key(node.length - 1), id: node.id, count: node.count, size: node.size };
}

/** The four items of the parent's entry for a child, optionally lying about some. */
function ref(f: Facts, lie: Partial<Facts> = {}): Buffer[] {
  const g = { ...f, ...lie };
  return [Buffer.from(g.key), enc(new Link(g.id)), enc(g.count), enc(g.size)];
}

async function putBlocks(...blocks: Uint8Array[]): Promise<Id> {
  await store.commit({ blocks: blocks.map((bytes) => ({ id: idOf(bytes), bytes })) });
  return idOf(blocks[blocks.length - 1]);
}

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) void _;
}

type Path = 'get' | 'getSync' | 'range' | 'reverse' | 'diff' | 'walk' | 'write';
const PARSE_PATHS: Path[] = ['get', 'range', 'diff', 'walk', 'write'];
const CHILD_PATHS: Path[] = ['get', 'getSync', 'range', 'diff', 'walk', 'write'];

/**
 * Reads `root` one way, on a cold cache. `getSync` first loads `child` as a tree of its own,
 * so the synchronous descent meets it in the cache without ever having checked it.
 */
async function read(path: Path, root: Id, key: Uint8Array, child?: Id): Promise<void> {
  const trees = new Trees(store, store);
  switch (path) {
    case 'get':
      await trees.get(root, key);
      return;
    case 'getSync': {
      await trees.root(child as Id);
      const node = await trees.root(root);
      trees.getSync(node, key);
      return;
    }
    case 'range':
      return drain(trees.range(root));
    case 'reverse':
      return drain(trees.range(root, { reverse: true }));
    case 'diff':
      return drain(trees.diff(root, trees.emptyRoot));
    case 'walk':
      return drain(trees.walk(root));
    case 'write':
      await trees.write(root, [{ key, val: enc('new') }], 0);
  }
}

async function expectRefused(paths: Path[], root: Id, key: Uint8Array, reason: RegExp, child?: Id): Promise<void> {
  for (const path of paths) {
    await expect(read(path, root, key, child), path).rejects.toMatchObject({ code: 'BADBLOCK', message: expect.stringMatching(reason) });
  }
}

// Keys by level (docs/format.md §5): among k0000…k0039 only k0013 and k0021 have level 1; k0832 has level 2.
const K = (i: number): Buffer => enc(`k${String(i).padStart(4, '0')}`);
const BOUNDARY = K(13);
const V = (s: string): Buffer => enc(s);

/** A valid two-leaf tree: the first leaf ends at the boundary key, the root is level 1. */
const LEAF_A = leaf(K(0), V('a'), K(1), V('b'), BOUNDARY, V('c'));
const LEAF_B = leaf(K(14), V('d'), K(15), V('e'));
const A = facts(LEAF_A);
const B = facts(LEAF_B);

describe('the hand-built blocks', () => {
  it('use keys of the levels the cases assume', () => {
    expect([0, 1, 5, 14, 15, 22, 23, 900].map((i) => keyLevel(K(i)))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([13, 21, 832].map((i) => keyLevel(K(i)))).toEqual([1, 1, 2]);
  });

  it('encode the same valid tree that Trees.write builds, and every path reads it', async () => {
    const root = await putBlocks(LEAF_A, LEAF_B, internal(1, ...ref(A), ...ref(B)));
    const trees = new Trees(store, store);
    const built = await trees.write(trees.emptyRoot, [0, 1, 13, 14, 15].map((i, j) => ({ key: K(i), val: V('abcde'[j]) })), 0);
    expect(idToText(built)).toBe(idToText(root));
    for (const path of CHILD_PATHS) await expect(read(path, root, K(1), A.id), path).resolves.toBeUndefined();
  });
});

describe('a block that breaks the node rules (§4) is refused on every read path', () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['not an array', enc(new Map([[1, 0]])), /not an array/],
    ['an array too short for version and level', arr([enc(1)]), /truncated/],
    ['trailing bytes after the node', Buffer.concat([leaf(K(0), V('a')), hex('c0')]), /trailing bytes/],
    ['a truncated node', leaf(K(0), V('a')).subarray(0, 8), /truncated/],
    ['node version 2', arr([enc(2), enc(0), K(0), V('a')]), /unknown node version/],
    ['node version written as the float 1.0', arr([enc(new Float(1)), enc(0), K(0), V('a')]), /small unsigned integer/],
    ['level written as a string', arr([enc(1), enc('0'), K(0), V('a')]), /small unsigned integer/],
    ['a negative level', arr([enc(1), enc(-1), K(0), V('a')]), /small unsigned integer/],
    ['a level above 32', internal(33, ...ref(A)), /bad level/],
    ['a leaf with a key and no value', leaf(K(0), V('a'), K(1)), /does not fit the node kind/],
    ['an internal entry missing its size', internal(1, ...ref(A).slice(0, 3)), /does not fit the node kind/],
    ['an internal node without children', internal(1), /no children/],
    ['keys out of order', leaf(K(1), V('a'), K(0), V('b')), /keys not ascending/],
    ['a duplicate key', leaf(K(0), V('a'), K(0), V('b')), /keys not ascending/],
    ['a boundary key that is not last', leaf(K(0), V('a'), BOUNDARY, V('b'), K(14), V('c')), /boundary key is not last/],
    ['an internal entry whose value is bytes, not a link', internal(1, A.key, enc(Buffer.from(A.id)), enc(A.count), enc(A.size)), /child is not a link/],
    ['an internal entry whose value is a big integer shaped like a link', internal(1, A.key, hex(`c7 22 01 ${Buffer.from(A.id).toString('hex')}`), enc(A.count), enc(A.size)), /child is not a link/],
    ['a child count of 0', internal(1, ...ref(A, { count: 0 })), /bad child count or size/],
    ['a child size of 0', internal(1, ...ref(A, { size: 0 })), /bad child count or size/],
    ['a negative child count', internal(1, ...ref(A, { count: -1 })), /small unsigned integer/],
    ['a child count beyond 2^53', internal(1, A.key, enc(new Link(A.id)), enc(2n ** 60n), enc(A.size)), /small unsigned integer/],
    ['a child count written as a float', internal(1, A.key, enc(new Link(A.id)), enc(new Float(3)), enc(A.size)), /small unsigned integer/],
  ];
  for (const [what, bytes, reason] of cases) {
    it(`refuses ${what}`, async () => {
      await expectRefused(PARSE_PATHS, await putBlocks(bytes), K(0), reason);
    });
  }
});

describe('a block that is not canonical msgpack (§2) is refused on every read path', () => {
  const linkPayload = Buffer.from(A.id).toString('hex');
  const cases: Array<[string, Uint8Array]> = [
    ['an integer key not in its shortest form', leaf(hex('cc 05'), V('a'))],
    ['a positive integer in a signed form', leaf(hex('d0 05'), V('a'))],
    ['a negative integer not in its shortest form', leaf(hex('d1 ff ff'), V('a'))],
    ['the node version not in its shortest form', arr([hex('cc 01'), enc(0), K(0), V('a')])],
    ['a float32 value', leaf(K(0), hex('ca 3f c0 00 00'))],
    ['negative zero', leaf(K(0), hex('cb 80 00 00 00 00 00 00 00'))],
    ['a NaN other than the quiet NaN', leaf(K(0), hex('cb 7f f8 00 00 00 00 00 01'))],
    ['map keys out of order', leaf(K(0), hex('82 a1 62 01 a1 61 02'))],
    ['a map with a duplicate key', leaf(K(0), hex('82 a1 61 01 a1 61 02'))],
    ['a node array with a non-minimal header', Buffer.concat([hex('dc 00 04'), enc(1), enc(0), K(0), V('a')])],
    ['a list with a non-minimal header', leaf(K(0), hex('dc 00 01 01'))],
    ['a map with a non-minimal header', leaf(K(0), hex('de 00 01 a1 61 01'))],
    ['bytes with a non-minimal header', leaf(K(0), hex('c5 00 01 ff'))],
    ['a string with a non-minimal header', leaf(K(0), hex('d9 01 61'))],
    ['a string that is not UTF-8', leaf(K(0), hex('a1 ff'))],
    ['an unknown extension type', leaf(K(0), hex('d4 05 00'))],
    ['a big integer that fits a msgpack integer', leaf(K(0), hex('d4 01 05'))],
    ['a big integer with a redundant leading byte', leaf(K(0), hex('c7 0a 01 00 01 00 00 00 00 00 00 00 00'))],
    ['a tuple with a non-minimal extension header', leaf(K(0), hex('c7 02 02 91 01'))],
    ['a tuple whose payload is not one list', leaf(K(0), hex('d5 02 01 02'))],
    ['a link that is not a sha2-256 multihash', leaf(K(0), Buffer.concat([hex('c7 22 03'), Buffer.alloc(34, 0xaa)]))],
    ['a link under a non-minimal extension header', internal(1, A.key, hex(`c8 00 22 03 ${linkPayload}`), enc(A.count), enc(A.size))],
  ];
  for (const [what, bytes] of cases) {
    it(`refuses ${what}`, async () => {
      await expectRefused(PARSE_PATHS, await putBlocks(bytes), K(0), /not a valid tree node: malformed msgpack/);
    });
  }
});

describe('a block over the size limit (§7)', () => {
  // A synced multi-MiB block: seconds when the machine is busy, so not the default 5 s budget.
  it('is refused before it is parsed', { timeout: 60_000 }, async () => {
    const header = Buffer.from([0xc6, 0, 0, 0, 0]);
    header.writeUInt32BE(MAX_NODE_BYTES, 1);
    const bytes = leaf(K(0), Buffer.concat([header, Buffer.alloc(MAX_NODE_BYTES)]));
    expect(bytes.length).toBeGreaterThan(MAX_NODE_BYTES);
    await expectRefused(['get', 'walk'], await putBlocks(bytes), K(0), /over the block size limit/);
  });
});

describe('a block that does not hash to its id', () => {
  it('is refused on every read path, fetched alone or in a batch', async () => {
    const fake = idOf(Buffer.from('some other block'));
    await store.commit({ blocks: [{ id: fake, bytes: LEAF_A }] });
    const root = await putBlocks(LEAF_B, internal(1, ...ref({ ...A, id: fake }), ...ref(B)));
    await expectRefused(PARSE_PATHS, root, K(0), /does not match its hash/);
  });
});

describe('a child that contradicts its parent (§4–§5) is refused on every read path', () => {
  it('refuses a child one level too low', async () => {
    const root = await putBlocks(LEAF_A, LEAF_B, internal(2, ...ref(A), ...ref(B)));
    await expectRefused(CHILD_PATHS, root, K(0), /child 0 of a level-2 node is at level 0, not 1/, A.id);
  });

  it('refuses a child at its parent\'s own level', async () => {
    const mid = internal(1, ...ref(A), ...ref(B));
    const root = await putBlocks(LEAF_A, LEAF_B, mid, internal(1, ...ref(facts(mid))));
    await expectRefused(CHILD_PATHS, root, K(0), /is at level 1, not 0/, idOf(mid));
  });

  it('refuses a child with more entries than its parent states', async () => {
    const root = await putBlocks(LEAF_A, LEAF_B, internal(1, ...ref(A, { count: 2 }), ...ref(B)));
    await expectRefused(CHILD_PATHS, root, K(0), /holds 3 entries, not 2/, A.id);
  });

  it('refuses a child with fewer entries than its parent states', async () => {
    const root = await putBlocks(LEAF_A, LEAF_B, internal(1, ...ref(A), ...ref(B, { count: 3 })));
    await expectRefused(CHILD_PATHS, root, K(15), /child 1 .* holds 2 entries, not 3/, B.id);
  });

  it('refuses a child whose byte size is not the one its parent states', async () => {
    const root = await putBlocks(LEAF_A, LEAF_B, internal(1, ...ref(A, { size: A.size + 1 }), ...ref(B)));
    await expectRefused(CHILD_PATHS, root, K(0), new RegExp(`takes ${A.size} bytes, not ${A.size + 1}`), A.id);
  });

  it('refuses a child whose last key is not its parent\'s key for it', async () => {
    const root = await putBlocks(LEAF_A, LEAF_B, internal(1, ...ref(A), ...ref(B, { key: K(16) })));
    await expectRefused(CHILD_PATHS, root, K(15), /child 1 .* ends on another key than its parent's entry/, B.id);
  });

  it('refuses a split where the splitting rule puts none', async () => {
    // Same entries as a single valid leaf, cut after a key that is no boundary.
    const first = leaf(K(0), V('a'));
    const second = leaf(K(1), V('b'), K(14), V('c'));
    const root = await putBlocks(first, second, internal(1, ...ref(facts(first)), ...ref(facts(second))));
    await expectRefused(CHILD_PATHS, root, K(0), /child 0 .* ends before a boundary key/, idOf(first));
  });

  it('refuses a leaf with a rule-breaking block under a valid root, fetched cold', async () => {
    const bad = leaf(K(1), V('a'), K(0), V('b'), BOUNDARY, V('c'));
    const f = { key: BOUNDARY, id: idOf(bad), count: 3, size: bad.length };
    const root = await putBlocks(bad, LEAF_B, internal(1, ...ref(f), ...ref(B)));
    await expectRefused(PARSE_PATHS, root, K(1), /keys not ascending/);
  });
});

describe('a node that starts before the key to its left (§4: keys ascend across the tree) is refused by ordered reads', () => {
  // Valid in every parent/child fact, but the middle leaf holds k0005, below the first leaf's k0013.
  const middle = leaf(K(5), V('x'), K(21), V('y'));
  const last = leaf(K(22), V('z'), K(23), V('w'));
  const reason = /starts at or before the key to its left/;

  it('refuses it moving leaf to leaf, either way, in a diff and when a write lands on it', async () => {
    const root = await putBlocks(LEAF_A, middle, last, internal(1, ...ref(A), ...ref(facts(middle)), ...ref(facts(last))));
    await expectRefused(['range', 'reverse', 'diff'], root, K(21), reason);
    await expectRefused(['write'], root, K(21), reason);
  });

  it('refuses it below a node reached from the left edge of its parent', async () => {
    // The bad leaf is the only child of the root's second child: its bound comes from two levels up.
    const second = leaf(K(14), V('d'), K(832), V('e'));
    const firstHalf = internal(1, ...ref(A), ...ref(facts(second)));
    const bad = leaf(K(5), V('x'), K(900), V('y'));
    const secondHalf = internal(1, ...ref(facts(bad)));
    const root = await putBlocks(LEAF_A, second, firstHalf, bad, secondHalf, internal(2, ...ref(facts(firstHalf)), ...ref(facts(secondHalf))));
    await expectRefused(['range', 'reverse', 'diff', 'write'], root, K(900), reason);
  });
});
