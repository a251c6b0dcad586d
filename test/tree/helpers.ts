import { BIN8, BIN16 } from '../../src/codec/format.ts';
import { encodeValue, type Value } from '../../src/codec/index.ts';
import { type Chunk, ChunkStream } from '../../src/tree/cdc.ts';
import { idKey, type Id } from '../../src/store/id.ts';
import { NodeLoader, type BlockReader } from '../../src/tree/loader.ts';
import { type Mutation, mutate, normalize } from '../../src/tree/mutate.ts';
import { EMPTY_NODE, type TreeNode } from '../../src/tree/node.ts';
import { readFile } from '../../src/tree/file.ts';
import type { Trees } from '../../src/tree/index.ts';
export { prng } from '../helpers/prng.ts';

/** Blocks in a Map: the tree's narrow reader interface, without a disk, for fast model tests. */
export class MemoryBlocks implements BlockReader {
  readonly blocks = new Map<string, Uint8Array>();
  async getBlock(id: Id): Promise<Uint8Array | undefined> {
    return this.blocks.get(idKey(id));
  }
}

export function memoryTrees(cacheBytes = 64 * 1024 * 1024): { loader: NodeLoader; blocks: MemoryBlocks } {
  const blocks = new MemoryBlocks();
  blocks.blocks.set(idKey(EMPTY_NODE.id), EMPTY_NODE.bytes);
  return { loader: new NodeLoader(blocks, cacheBytes), blocks };
}

export async function apply(t: { loader: NodeLoader; blocks: MemoryBlocks }, root: TreeNode, muts: Mutation[]): Promise<TreeNode> {
  const r = await mutate(t.loader, root, normalize(muts));
  for (const n of r.created) t.blocks.blocks.set(idKey(n.id), n.bytes);
  return r.root;
}

export function put(k: Value, v: Value): Mutation {
  return { key: encodeValue(k), val: encodeValue(v) };
}

export function del(k: Value): Mutation {
  return { key: encodeValue(k), val: null };
}


/** Where ChunkStream ends each chunk of `data`, pushed in pieces of `piece` bytes. */
export function streamCuts(data: Uint8Array, piece = Math.max(1, data.length)): number[] {
  const s = new ChunkStream((n) => new Uint8Array(n));
  const ends: number[] = [];
  const take = (chunks: Chunk[]): void => {
    // A chunk's value is its bytes behind a bin8/bin16/bin32 head.
    for (const c of chunks) ends.push(c.offset + c.value.length - (c.value[0] === BIN8 ? 2 : c.value[0] === BIN16 ? 3 : 5));
  };
  for (let o = 0; o < data.length; o += piece) take(s.push(data.subarray(o, o + piece)));
  take(s.finish());
  return ends;
}

/** Bytes [offset, offset + length) of a file as one copy, its leases released. */
export async function fileBytes(trees: Trees, id: Id, offset: number, length: number): Promise<Buffer> {
  const read = await readFile(trees, await trees.root(id), offset, length);
  const out = Buffer.concat(read.parts);
  read.release();
  return out;
}
