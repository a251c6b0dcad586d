import { LINK_HEADER_BYTES } from '../store/id.ts';
import { checkChild } from './child.ts';
import { isRef } from './blob.ts';
import type { NodeLoader } from './loader.ts';
import type { Entry, TreeNode } from './node.ts';
import type { RangeOptions } from './range.ts';

/** The value bytes of `key`, or undefined. Entirely synchronous while the path is cached. */
export function getSync(loader: NodeLoader, root: TreeNode, key: Uint8Array): Uint8Array | undefined | typeof MISSING {
  let node = root;
  while (node.level > 0) {
    const idx = node.lowerBound(key);
    if (idx === node.length) return undefined;
    const child = cachedChild(loader, node, idx);
    if (child === undefined) return MISSING;
    node = child;
  }
  return node.valueOf(key);
}

/** Child `idx` of an inner node if it is in memory, verified against the link the first time. */
function cachedChild(loader: NodeLoader, node: TreeNode, idx: number): TreeNode | undefined {
  let child = node.knownChild(idx);
  if (child !== undefined) loader.touch(child);
  else {
    // The id sits right after the link header: look it up in place.
    child = loader.peekAt(node.bytes, node.valStart[idx] + LINK_HEADER_BYTES);
    if (child === undefined) return undefined;
    checkChild(node, idx, child);
    node.rememberChild(idx, child);
  }
  return child;
}

/**
 * The entries within ascending bounds, synchronously, when every node they lie in is cached,
 * they are at most `limit` and every value is inline; else undefined (read them with `range`).
 * An inner entry's key is the last key of its child, so the walk enters the children from the
 * first whose last key reaches `min` to the first whose last key passes `max`.
 */
export function rangeSync(loader: NodeLoader, root: TreeNode, opts: RangeOptions, limit: number): Entry[] | undefined {
  const out: Entry[] = [];
  const { min, max } = opts;
  const walk = (node: TreeNode): boolean => {
    let i = min === undefined ? 0 : node.lowerBound(min.key);
    for (; i < node.length; i++) {
      const c = max === undefined ? 1 : node.compareKey(max.key, i);
      if (node.level > 0) {
        const child = cachedChild(loader, node, i);
        if (child === undefined || !walk(child)) return false;
        if (c <= 0) return true;
        continue;
      }
      if (c < 0 || (c === 0 && max?.inclusive === false)) return true;
      if (min === undefined || min.inclusive || node.compareKey(min.key, i) < 0) {
        const val = node.val(i);
        if (out.length === limit || isRef(val)) return false;
        out.push({ key: node.key(i), val });
      }
      if (c === 0) return true;
    }
    return true;
  };
  return walk(root) ? out : undefined;
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
  return node.valueOf(key);
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
