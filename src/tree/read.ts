import { LINK_HEADER_BYTES } from '../store/id.ts';
import { checkChild } from './child.ts';
import type { NodeLoader } from './loader.ts';
import type { TreeNode } from './node.ts';

/** The value bytes of `key`, or undefined. Entirely synchronous while the path is cached. */
export function getSync(loader: NodeLoader, root: TreeNode, key: Uint8Array): Uint8Array | undefined | typeof MISSING {
  let node = root;
  while (node.level > 0) {
    const idx = node.lowerBound(key);
    if (idx === node.length) return undefined;
    let child = node.knownChild(idx);
    if (child === undefined) {
      // The id sits right after the link header: look it up in place.
      child = loader.peekAt(node.bytes, node.valStart[idx] + LINK_HEADER_BYTES);
      if (child === undefined) return MISSING;
      checkChild(node, idx, child);
      node.rememberChild(idx, child);
    }
    node = child;
  }
  return leafLookup(node, key);
}

/** Marks a lookup that needs a block outside the cache. */
export const MISSING: unique symbol = Symbol('missing');

export async function get(loader: NodeLoader, root: TreeNode, key: Uint8Array): Promise<Uint8Array | undefined> {
  let node = root;
  while (node.level > 0) {
    const idx = node.lowerBound(key);
    if (idx === node.length) return undefined;
    const child = await loader.child(node.child(idx));
    checkChild(node, idx, child);
    node = child;
  }
  return leafLookup(node, key);
}

function leafLookup(leaf: TreeNode, key: Uint8Array): Uint8Array | undefined {
  const idx = leaf.lowerBound(key);
  return idx < leaf.length && leaf.compareKey(key, idx) === 0 ? leaf.val(idx) : undefined;
}

/** Values for many keys, in the order asked. */
export async function getMany(loader: NodeLoader, root: TreeNode, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
  const out: Array<Uint8Array | undefined> = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const hit = getSync(loader, root, keys[i]);
    out[i] = hit === MISSING ? await get(loader, root, keys[i]) : hit;
  }
  return out;
}
