import { encodeValue, type Value } from '../../src/codec/index.ts';
import { ChunkStream } from '../../src/tree/chunk-stream.ts';
import { UploadRing } from '../../src/tree/upload-ring.ts';
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


/** Where ChunkStream ends each chunk of `data`, written into its ring in pieces of `piece` bytes. */
export function streamCuts(data: Uint8Array, piece = Math.max(1, data.length)): number[] {
  const ring = new UploadRing();
  const s = new ChunkStream(ring);
  const ends: number[] = [];
  let written = 0;
  // Each cut is taken at once, so the ring is released up to the last one.
  const take = (final: boolean): void => {
    for (const c of s.cut(written, final)) ends.push(c.offset + c.length);
  };
  for (let o = 0; o < data.length; o += piece) {
    const p = data.subarray(o, o + piece);
    for (let at = 0; at < p.length;) {
      const n = Math.min(p.length - at, UploadRing.room(written, ends.at(-1) ?? 0));
      ring.write(written, p.subarray(at, at + n));
      written += n;
      at += n;
      take(false);
    }
  }
  take(true);
  return ends;
}

/** Bytes [offset, offset + length) of a file as one copy, its leases released. */
export async function fileBytes(trees: Trees, id: Id, offset: number, length: number): Promise<Buffer> {
  const read = await readFile(trees, await trees.root(id), offset, length);
  const out = Buffer.concat(read.parts);
  read.release();
  return out;
}
