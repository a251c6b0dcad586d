import { Buffer } from 'node:buffer';
import * as F from './format.ts';
import { Head, malformed, readHead } from './head.ts';

/**
 * The total order over canonical encodings (docs/format.md §3), computed on the bytes
 * themselves: keys inside tree nodes are never decoded to be compared.
 */

// End offsets of the last two values compared; read right after a call returns 0.
let endA = 0;
let endB = 0;
const heads: Head[] = [];

function headAt(depth: number): Head {
  let h = heads[depth];
  if (h === undefined) {
    h = new Head();
    heads[depth] = h;
  }
  return h;
}

/** The encoded length of an integer of at most 32 bits with tag `t`; 0 for any other tag. */
function smallIntBytes(t: number): number {
  if (t <= 0x7f || t >= 0xe0) return 1;
  switch (t) {
    case F.UINT8:
    case F.INT8:
      return 2;
    case F.UINT16:
    case F.INT16:
      return 3;
    case F.UINT32:
    case F.INT32:
      return 5;
    default:
      return 0;
  }
}

/**
 * The integer encoded at `b[p]` when it takes at most 32 bits (the tags of fixints and of
 * 8 to 32-bit ints), else NaN. Two such integers order as their values (§3), so a search over
 * integer keys (SQL row ids) compares numbers and never reads a header.
 */
export function smallIntAt(b: Uint8Array, p: number): number {
  const t = b[p];
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case F.UINT8:
      return b[p + 1];
    case F.UINT16:
      return (b[p + 1] << 8) | b[p + 2];
    case F.UINT32:
      return ((b[p + 1] << 24) | (b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]) >>> 0;
    case F.INT8:
      return (b[p + 1] << 24) >> 24;
    case F.INT16:
      return (((b[p + 1] << 8) | b[p + 2]) << 16) >> 16;
    case F.INT32:
      return (b[p + 1] << 24) | (b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4];
    default:
      return NaN;
  }
}

/**
 * The first item of the tuple encoded at `b[p]` when the tuple is in a one-byte-length ext form
 * with a fixarray payload and that item is an integer of at most 32 bits (SQL index keys and
 * composite row keys), else NaN. Two such tuples whose first items differ order as those items
 * (§3), so a search compares them without walking the tuples.
 */
export function tupleLeadAt(b: Uint8Array, p: number): number {
  const t = b[p];
  let s: number;
  if (t === F.EXT8) {
    if (b[p + 2] !== F.EXT_TUPLE) return NaN;
    s = p + 3;
  } else if (t >= F.FIXEXT1 && t <= F.FIXEXT16) {
    if (b[p + 1] !== F.EXT_TUPLE) return NaN;
    s = p + 2;
  } else return NaN;
  const l = b[s];
  return l > 0x90 && l <= 0x9f ? smallIntAt(b, s + 1) : NaN;
}

export function compareEncoded(a: Uint8Array, b: Uint8Array): number {
  return compareAt(a, 0, b, 0, 0);
}

/** Compares the values encoded at `a[ap]` and `b[bp]`; returns <0, 0 or >0. */
export function compareAt(a: Uint8Array, ap: number, b: Uint8Array, bp: number, depth: number): number {
  const ta = a[ap];
  const tb = b[bp];
  // Fast path: two strings or two byte strings, the usual keys.
  if (ta >= 0xa0 && ta <= 0xbf && tb >= 0xa0 && tb <= 0xbf) {
    return compareRaw(a, ap + 1, ap + 1 + (ta & 0x1f), b, bp + 1, bp + 1 + (tb & 0x1f));
  }
  if (ta === F.BIN8 && tb === F.BIN8) {
    return compareRaw(a, ap + 2, ap + 2 + a[ap + 1], b, bp + 2, bp + 2 + b[bp + 1]);
  }
  // Two integers of at most 32 bits (row ids, the items of SQL index keys) compare as numbers.
  const la = smallIntBytes(ta);
  const lb = la === 0 ? 0 : smallIntBytes(tb);
  if (lb !== 0) {
    if (ap + la > a.length || bp + lb > b.length) throw malformed('truncated value');
    endA = ap + la;
    endB = bp + lb;
    const x = smallIntAt(a, ap);
    const y = smallIntAt(b, bp);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (isTuple(a, ap) && isTuple(b, bp)) return compareTuples(a, ap, b, bp, depth);
  const ha = headAt(depth * 2);
  const hb = headAt(depth * 2 + 1);
  readHead(a, ap, ha);
  readHead(b, bp, hb);
  if (ha.rank !== hb.rank) return ha.rank - hb.rank;
  switch (ha.rank) {
    case F.RANK_NIL:
      endA = ha.start;
      endB = hb.start;
      return 0;
    case F.RANK_BOOL:
      endA = ha.start;
      endB = hb.start;
      return ha.num - hb.num;
    case F.RANK_NUMBER:
      endA = valueEndScalar(ha);
      endB = valueEndScalar(hb);
      return compareNumbers(ha, hb);
    case F.RANK_BYTES:
    case F.RANK_STRING:
    case F.RANK_LINK:
      return compareRaw(a, ha.start, ha.start + ha.len, b, hb.start, hb.start + hb.len);
    case F.RANK_TUPLE: {
      const ea = ha.start + ha.len;
      const eb = hb.start + hb.len;
      const c = compareAt(a, ha.start, b, hb.start, depth + 1);
      endA = ea;
      endB = eb;
      return c;
    }
    default:
      return compareSequences(a, ha, b, hb, depth, ha.rank === F.RANK_MAP ? 2 : 1);
  }
}

/** A tuple in the one-byte-length ext forms, which every tuple of a few small items takes. */
function isTuple(b: Uint8Array, p: number): boolean {
  const t = b[p];
  if (t === F.EXT8) return b[p + 2] === F.EXT_TUPLE;
  return t >= F.FIXEXT1 && t <= F.FIXEXT16 && b[p + 1] === F.EXT_TUPLE;
}

/**
 * Two tuples of short item lists (SQL index keys) compared item by item without a header
 * object: the same order as the general path (the payloads are lists; §3).
 */
function compareTuples(a: Uint8Array, ap: number, b: Uint8Array, bp: number, depth: number): number {
  const sa = a[ap] === F.EXT8 ? ap + 3 : ap + 2;
  const sb = b[bp] === F.EXT8 ? bp + 3 : bp + 2;
  const ea = sa + (a[ap] === F.EXT8 ? a[ap + 1] : 1 << (a[ap] - F.FIXEXT1));
  const eb = sb + (b[bp] === F.EXT8 ? b[bp + 1] : 1 << (b[bp] - F.FIXEXT1));
  if (ea > a.length || eb > b.length) throw malformed('truncated value');
  const la = a[sa];
  const lb = b[sb];
  let c: number;
  if (la >= 0x90 && la <= 0x9f && lb >= 0x90 && lb <= 0x9f) {
    const na = la & 0x0f;
    const nb = lb & 0x0f;
    let pa = sa + 1;
    let pb = sb + 1;
    c = 0;
    for (let i = 0; i < na && i < nb && c === 0; i++) {
      c = compareAt(a, pa, b, pb, depth + 1);
      pa = endA;
      pb = endB;
    }
    if (c === 0) c = na - nb;
  } else {
    c = compareAt(a, sa, b, sb, depth + 1);
  }
  endA = ea;
  endB = eb;
  return c;
}

function valueEndScalar(h: Head): number {
  const isExt = h.tag === F.EXT8 || h.tag === F.EXT16 || h.tag === F.EXT32 || (h.tag >= F.FIXEXT1 && h.tag <= F.FIXEXT16);
  return isExt ? h.start + h.len : h.start;
}

function compareSequences(a: Uint8Array, ha: Head, b: Uint8Array, hb: Head, depth: number, per: number): number {
  const na = ha.len * per;
  const nb = hb.len * per;
  let pa = ha.start;
  let pb = hb.start;
  const n = Math.min(na, nb);
  for (let i = 0; i < n; i++) {
    const c = compareAt(a, pa, b, pb, depth + 1);
    if (c !== 0) return c;
    pa = endA;
    pb = endB;
  }
  if (na !== nb) return na - nb;
  endA = pa;
  endB = pb;
  return 0;
}

function compareRaw(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  if (ae > a.length || be > b.length) throw malformed('truncated value');
  endA = ae;
  endB = be;
  const la = ae - as;
  const lb = be - bs;
  const n = la < lb ? la : lb;
  if (n > 24) {
    // a.compare(b, …) answers from a's side, like this function.
    const c = Buffer.prototype.compare.call(a, b, bs, bs + n, as, as + n);
    if (c !== 0) return c;
  } else {
    for (let i = 0; i < n; i++) {
      const d = a[as + i] - b[bs + i];
      if (d !== 0) return d;
    }
  }
  return la - lb;
}

/** Numbers compare by value; an integer sorts before a float of equal value; NaN sorts last. */
export function compareNumbers(a: Head, b: Head): number {
  if (!a.isFloat && !b.isFloat) {
    if (a.big === null && b.big === null) return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
    const x = a.big ?? BigInt(a.num);
    const y = b.big ?? BigInt(b.num);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.isFloat && b.isFloat) {
    const an = Number.isNaN(a.num);
    const bn = Number.isNaN(b.num);
    if (an || bn) return an && bn ? 0 : an ? 1 : -1;
    return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
  }
  return a.isFloat ? -compareIntFloat(b, a.num) : compareIntFloat(a, b.num);
}

function compareIntFloat(i: Head, f: number): number {
  if (Number.isNaN(f)) return -1;
  if (i.big === null) return i.num < f ? -1 : i.num > f ? 1 : -1;
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  const floor = BigInt(Math.floor(f));
  if (i.big < floor) return -1;
  if (i.big > floor) return 1;
  // Equal to floor(f): below f if f has a fraction, else equal in value and the int sorts first.
  return -1;
}
