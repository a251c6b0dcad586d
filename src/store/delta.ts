import { ID_BYTES, type Id } from './id.ts';

/**
 * A node stored as an edit of another one (docs/format.md §8.1): most writes change one entry
 * of each node on a path, and storing every node of that path whole again is what made a
 * one-key write cost kilobytes. The record names a **keyframe**, a node stored whole, and says
 * how to rebuild the node's canonical bytes from it:
 *
 *     00 | keyframe id (34) | head length h (1) | head (h) | prefix (u32 BE) | suffix (u32 BE) | middle
 *
 * The node is its own msgpack array head, then the keyframe's body (its bytes after its head)
 * with `prefix` bytes kept at the start, `suffix` at the end and `middle` in between. Keeping
 * the heads apart matters: an insert changes the array length at byte 0, which would otherwise
 * leave no common prefix at all. A canonical node starts with an array head (0x9_, 0xdc,
 * 0xdd), never 0x00, so the first byte tells the two kinds of record apart.
 */
export const DELTA_TAG = 0x00;
const FIXED = 1 + ID_BYTES + 1 + 4 + 4;
/** Below this, a node's record is the node: a delta could save only a few bytes. */
const MIN_NODE = 256;

export function isDelta(record: Uint8Array): boolean {
  return record[0] === DELTA_TAG;
}

export function keyframeOf(record: Uint8Array): Id {
  return record.subarray(1, 1 + ID_BYTES);
}

const RUN = 32;

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** Bytes of a msgpack array head, from its first byte. */
function headLength(b: Uint8Array): number {
  const t = b[0];
  return t === 0xdc ? 3 : t === 0xdd ? 5 : 1;
}

/**
 * The record storing `node` against `keyframe` (whose id is `keyframeId`), or undefined when
 * it would not take at most half the node's bytes: then the node is stored whole and becomes
 * the keyframe of the nodes that later replace it, so a chain is never longer than one edit.
 */
export function encodeDelta(keyframeId: Id, keyframe: Uint8Array, node: Uint8Array): Buffer | undefined {
  if (node.length < MIN_NODE) return undefined;
  const h = headLength(node);
  const kh = headLength(keyframe);
  const nb = node.length - h;
  const kb = keyframe.length - kh;
  const limit = Math.min(nb, kb);
  const n = asBuffer(node);
  const k = asBuffer(keyframe);
  // Binary search with native compares down to a short run, then bytes: a byte loop over
  // kilobytes, or a native call per few bytes, cost more than the write's hashing.
  let lo = 0;
  let hi = limit;
  while (hi - lo > RUN) {
    const mid = (lo + hi) >>> 1;
    if (n.compare(k, kh + lo, kh + mid, h + lo, h + mid) === 0) lo = mid;
    else hi = mid;
  }
  let prefix = lo;
  while (prefix < limit && node[h + prefix] === keyframe[kh + prefix]) prefix++;
  const room = limit - prefix;
  lo = 0;
  hi = room;
  while (hi - lo > RUN) {
    const mid = (lo + hi) >>> 1;
    if (n.compare(k, k.length - mid, k.length - lo, n.length - mid, n.length - lo) === 0) lo = mid;
    else hi = mid;
  }
  let suffix = lo;
  while (suffix < room && node[node.length - 1 - suffix] === keyframe[keyframe.length - 1 - suffix]) suffix++;
  const middle = nb - prefix - suffix;
  const size = FIXED + h + middle;
  if (size * 2 > node.length) return undefined;
  const out = Buffer.allocUnsafe(size);
  out[0] = DELTA_TAG;
  out.set(keyframeId, 1);
  out[1 + ID_BYTES] = h;
  out.set(node.subarray(0, h), 2 + ID_BYTES);
  let p = 2 + ID_BYTES + h;
  out.writeUInt32BE(prefix, p);
  out.writeUInt32BE(suffix, p + 4);
  p += 8;
  out.set(node.subarray(h + prefix, h + prefix + middle), p);
  return out;
}

/** The node a delta record stands for; undefined when the record does not fit its keyframe (corruption). */
export function applyDelta(record: Uint8Array, keyframe: Uint8Array): Buffer | undefined {
  const h = record[1 + ID_BYTES];
  let p = 2 + ID_BYTES + h;
  if (record.length < p + 8) return undefined;
  const view = asBuffer(record);
  const prefix = view.readUInt32BE(p);
  const suffix = view.readUInt32BE(p + 4);
  p += 8;
  const kh = headLength(keyframe);
  if (kh + prefix + suffix > keyframe.length) return undefined;
  const middle = record.length - p;
  const out = Buffer.allocUnsafe(h + prefix + middle + suffix);
  out.set(record.subarray(2 + ID_BYTES, 2 + ID_BYTES + h), 0);
  out.set(keyframe.subarray(kh, kh + prefix), h);
  out.set(record.subarray(p), h + prefix);
  out.set(keyframe.subarray(keyframe.length - suffix), h + prefix + middle);
  return out;
}
