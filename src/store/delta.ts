import { ID_BYTES, type Id } from './id.ts';

/**
 * A node stored as an edit of another one (docs/format.md §8.1): most writes change one entry
 * of each node on a path, and storing every node of that path whole again is what made a
 * one-key write cost kilobytes. The record names a **keyframe**, a node stored whole, and says
 * how to rebuild the node's canonical bytes from the keyframe's body (its bytes after its
 * msgpack array head):
 *
 *     00 | keyframe id (34) | h (1) | head (h) | op …
 *     op: 01 | offset (varint) | length (varint)    copy keyframe body bytes
 *         02 | length (varint) | bytes               literal bytes
 *
 * The node is its own array head, then the ops' bytes in order. Keeping the heads apart
 * matters: an insert changes the array length at byte 0, which would otherwise leave nothing in
 * common up front. A canonical node starts with an array head (0x9_, 0xdc, 0xdd), never 0x00,
 * so the first byte tells the two kinds of record apart. Varints are unsigned LEB128.
 */
export const DELTA_TAG = 0x00;
export const COPY = 0x01;
export const LITERAL = 0x02;
/** Below this, a node's record is the node: a delta could save only a few bytes. */
export const MIN_NODE = 256;
/** Bytes an anchor must match to split a changed region; shorter common runs become literals. */
const ANCHOR = 24;
/** Changed regions are split around anchors this many times deep (up to 2^depth edits). */
const MAX_DEPTH = 7;
/** A node this edited is stored whole anyway (a delta would not halve it): stop looking. */
const MAX_OPS = 48;

export function isDelta(record: Uint8Array): boolean {
  return record[0] === DELTA_TAG;
}

export function keyframeOf(record: Uint8Array): Id {
  return record.subarray(1, 1 + ID_BYTES);
}

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** Bytes of a msgpack array head, from its first byte. */
export function headLength(b: Uint8Array): number {
  const t = b[0];
  return t === 0xdc ? 3 : t === 0xdd ? 5 : 1;
}

/**
 * Bytes compared one by one before a run is taken for a long one. Inside a node with several
 * edits most common runs are short, and a loop over them beats the argument checks of native
 * `Buffer.compare` calls; a long run (a node with one edit) is cheaper by binary search over
 * native compares (a loop costs ~3 ns a byte).
 */
const SHORT_RUN = 32;

/** Length of the common run of `a[ai…]` and `b[bi…]`, at most `max`. */
function forward(a: Buffer, ai: number, b: Buffer, bi: number, max: number): number {
  const short = Math.min(max, SHORT_RUN);
  let lo = 0;
  while (lo < short && a[ai + lo] === b[bi + lo]) lo++;
  if (lo < short) return lo;
  let hi = max;
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    if (a.compare(b, bi + lo, bi + mid, ai + lo, ai + mid) === 0) lo = mid;
    else hi = mid;
  }
  while (lo < max && a[ai + lo] === b[bi + lo]) lo++;
  return lo;
}

/** Length of the common run ending just before `a[ae]` and `b[be]`, at most `max`. */
function backward(a: Buffer, ae: number, b: Buffer, be: number, max: number): number {
  const short = Math.min(max, SHORT_RUN);
  let lo = 0;
  while (lo < short && a[ae - 1 - lo] === b[be - 1 - lo]) lo++;
  if (lo < short) return lo;
  let hi = max;
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    if (a.compare(b, be - mid, be - lo, ae - mid, ae - lo) === 0) lo = mid;
    else hi = mid;
  }
  while (lo < max && a[ae - 1 - lo] === b[be - 1 - lo]) lo++;
  return lo;
}

/** A record's ops as quads (see `writeRecord`), and the record's size so far. */
export class OpList {
  readonly ops: number[] = [];
  size: number;

  constructor(size: number) {
    this.size = size;
  }

  /** Copies keyframe body bytes [at, at + len): one op with the last one when contiguous. */
  copy(at: number, len: number): void {
    const ops = this.ops;
    const l = ops.length - 4;
    if (l >= 0 && ops[l] === COPY && ops[l + 1] + ops[l + 2] === at) {
      this.size += varintLength(ops[l + 2] + len) - varintLength(ops[l + 2]);
      ops[l + 2] += len;
      return;
    }
    ops.push(COPY, at, len, 0);
    this.size += 1 + varintLength(at) + varintLength(len);
  }

  /** Takes bytes [from, from + len) of source `src` literally. */
  literal(from: number, len: number, src = 0): void {
    this.ops.push(LITERAL, from, len, src);
    this.size += 1 + varintLength(len) + len;
  }
}

/**
 * The ops turning keyframe bytes into node bytes. Ops come out in node order, so the size only
 * grows: once it passes `limit` the record cannot be kept, and the search stops there.
 */
export class Diff extends OpList {
  private readonly n: Buffer;
  private readonly k: Buffer;
  private readonly kh: number;
  private readonly limit: number;

  constructor(n: Buffer, k: Buffer, kh: number, size: number, limit: number) {
    super(size);
    this.n = n;
    this.k = k;
    this.kh = kh;
    this.limit = limit;
  }

  get over(): boolean {
    return this.size > this.limit;
  }

  /** Copies keyframe bytes [at, at + len), `at` counted from the keyframe's first byte. */
  private copyAt(at: number, len: number): void {
    this.copy(at - this.kh, len);
  }

  /**
   * Ops from the runs the merge copied from the keyframe (the node's base; `copied` as in
   * NewNode), each checked by one native compare; the gaps between them are searched only at
   * their ends (an edited value often keeps a prefix or padding). False, with no ops, when a
   * run does not hold: then `run` searches the whole node.
   */
  fromRuns(h: number, copied: readonly number[]): boolean {
    const { n, k, kh } = this;
    const size = this.size;
    let pos = h;
    let kpos = kh;
    for (let i = 0; i <= copied.length; i += 3) {
      const last = i === copied.length;
      let at = last ? n.length : copied[i];
      let from = last ? k.length : copied[i + 1];
      let len = last ? 0 : copied[i + 2];
      if (at < pos || from < kpos || at + len > n.length || from + len > k.length || n.compare(k, from, from + len, at, at + len) !== 0) {
        this.ops.length = 0;
        this.size = size;
        return false;
      }
      const pre = forward(n, pos, k, kpos, Math.min(at - pos, from - kpos));
      const suf = backward(n, at, k, from, Math.min(at - pos, from - kpos) - pre);
      if (pre > 0) this.copyAt(kpos, pre);
      if (at - suf > pos + pre) this.literal(pos + pre, at - suf - pos - pre);
      at -= suf;
      from -= suf;
      len += suf;
      if (len > 0) this.copyAt(from, len);
      pos = at + len;
      kpos = from + len;
      if (this.over) return true;
    }
    return true;
  }

  /**
   * Ops for keyframe bytes [ks, ke) into node bytes [ns, ne): common prefix and suffix, then
   * the changed middle split around an anchor found by search, recursively. Nodes are sorted
   * entries, so what two versions share comes in the same order and divide and conquer finds
   * it; a wrong anchor (repeated bytes) only costs size, since every copy is of equal bytes.
   */
  run(ns: number, ne: number, ks: number, ke: number, depth: number): void {
    if (this.over) return;
    const { n, k } = this;
    if (this.ops.length > 4 * MAX_OPS) {
      // Past this many edits the record will not be small: say so with one literal and stop searching.
      this.literal(ns, ne - ns);
      return;
    }
    const pre = forward(n, ns, k, ks, Math.min(ne - ns, ke - ks));
    const suf = backward(n, ne, k, ke, Math.min(ne - ns, ke - ks) - pre);
    if (pre > 0) this.copyAt(ks, pre);
    const nm = ns + pre;
    const nme = ne - suf;
    const km = ks + pre;
    const kme = ke - suf;
    if (nm < nme) {
      let split = false;
      if (depth < MAX_DEPTH && nme - nm >= 4 * ANCHOR && kme - km >= ANCHOR) {
        const probe = nm + ((nme - nm - ANCHOR) >>> 1);
        // The first match from km on: one past kme - ANCHOR means none inside the region.
        const kp = k.indexOf(n.subarray(probe, probe + ANCHOR), km);
        if (kp >= 0 && kp + ANCHOR <= kme) {
          const back = backward(n, probe, k, kp, Math.min(probe - nm, kp - km));
          const ahead = forward(n, probe, k, kp, Math.min(nme - probe, kme - kp));
          this.run(nm, probe - back, km, kp - back, depth + 1);
          this.copyAt(kp - back, back + ahead);
          this.run(probe + ahead, nme, kp + ahead, kme, depth + 1);
          split = true;
        }
      }
      if (!split) this.literal(nm, nme - nm);
    }
    if (suf > 0) this.copyAt(ke - suf, suf);
  }
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Buffer, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
}

/**
 * The record storing `node` against `keyframe` (whose id is `keyframeId`), or undefined when
 * it would take more than half the node's bytes: then the node is stored whole and becomes the
 * keyframe of the nodes that later replace it, so a chain is never longer than one edit.
 */
export function encodeDelta(keyframeId: Id, keyframe: Uint8Array, node: Uint8Array, copied?: readonly number[]): Buffer | undefined {
  if (node.length < MIN_NODE) return undefined;
  const n = asBuffer(node);
  const k = asBuffer(keyframe);
  const h = headLength(n);
  const kh = headLength(k);
  const d = new Diff(n, k, kh, 2 + ID_BYTES + h, node.length >>> 1);
  if (copied === undefined || !d.fromRuns(h, copied)) d.run(h, n.length, kh, k.length, 0);
  if (d.over) return undefined;
  return writeRecord(keyframeId, n, h, d.ops, d.size, [n]);
}

/**
 * The record from ops as quads: COPY, keyframe body offset, length, 0; or LITERAL, offset in
 * `sources[src]`, length, src. `size` is the record's length, counted as the ops were made.
 */
export function writeRecord(keyframeId: Id, n: Buffer, h: number, ops: readonly number[], size: number, sources: readonly Buffer[]): Buffer {
  const out = Buffer.allocUnsafe(size);
  out[0] = DELTA_TAG;
  out.set(keyframeId, 1);
  out[1 + ID_BYTES] = h;
  out.set(n.subarray(0, h), 2 + ID_BYTES);
  let p = 2 + ID_BYTES + h;
  for (let i = 0; i < ops.length; i += 4) {
    const at = ops[i + 1];
    const len = ops[i + 2];
    out[p++] = ops[i];
    if (ops[i] === COPY) {
      p = writeVarint(out, p, at);
      p = writeVarint(out, p, len);
    } else {
      p = writeVarint(out, p, len);
      sources[ops[i + 3]].copy(out, p, at, at + len);
      p += len;
    }
  }
  return out;
}

/** A varint at `p`: [value, next position], or undefined past the end or beyond 2^35. */
export function readVarint(b: Uint8Array, p: number): [number, number] | undefined {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    if (p >= b.length) return undefined;
    const byte = b[p++];
    v += (byte & 0x7f) * scale;
    if (byte < 0x80) return [v, p];
    scale *= 128;
  }
  return undefined;
}

/** The node a delta record stands for; undefined when the record does not fit its keyframe (corruption). */
export function applyDelta(record: Uint8Array, keyframe: Uint8Array): Buffer | undefined {
  const h = record[1 + ID_BYTES];
  const start = 2 + ID_BYTES + h;
  if (h === undefined || record.length < start) return undefined;
  const kh = headLength(keyframe);
  const body = keyframe.length - kh;
  // Two passes: the first checks every op and sizes the output, so nothing is read out of bounds.
  let size = h;
  for (let p = start; p < record.length; ) {
    const op = record[p++];
    if (op === COPY) {
      const at = readVarint(record, p);
      const len = at === undefined ? undefined : readVarint(record, at[1]);
      if (at === undefined || len === undefined || at[0] + len[0] > body) return undefined;
      size += len[0];
      p = len[1];
    } else if (op === LITERAL) {
      const len = readVarint(record, p);
      if (len === undefined || len[1] + len[0] > record.length) return undefined;
      size += len[0];
      p = len[1] + len[0];
    } else return undefined;
  }
  const out = Buffer.allocUnsafe(size);
  out.set(record.subarray(2 + ID_BYTES, start), 0);
  let o = h;
  for (let p = start; p < record.length; ) {
    const op = record[p++];
    if (op === COPY) {
      const [at, q] = readVarint(record, p) as [number, number];
      const [len, r] = readVarint(record, q) as [number, number];
      out.set(keyframe.subarray(kh + at, kh + at + len), o);
      o += len;
      p = r;
    } else {
      const [len, q] = readVarint(record, p) as [number, number];
      out.set(record.subarray(q, q + len), o);
      o += len;
      p = q + len;
    }
  }
  return out;
}
