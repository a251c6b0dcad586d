import { isUtf8 } from 'node:buffer';
import { isId, isIdAt } from '../store/id.ts';
import { compareAt } from './compare.ts';
import * as F from './format.ts';
import { Head, malformed, readHead } from './head.ts';
import { Float, Link, Tuple, type Value } from './value.ts';

/**
 * Decoding has two modes. Strict (blocks from disk or peers, docs/format.md §2) accepts only
 * the canonical form, so equal values always arrive as equal bytes. Loose (values a client
 * sends) accepts any well-formed msgpack of our types; `canonicalize` then re-encodes it.
 */
export interface DecodeOptions {
  strict: boolean;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Decodes exactly one value filling `bytes`. */
export function decodeValue(bytes: Uint8Array, opts: DecodeOptions = { strict: true }): Value {
  const r = new ValueReader(bytes, opts.strict);
  const v = r.value(0, 0);
  if (r.pos !== bytes.length) throw malformed('trailing bytes after the value');
  return v;
}

/**
 * One strict reader for every skip: a node is checked entry by entry, and a reader per key and
 * value (with its heads and views) was most of what a write allocated on a cache miss.
 */
let skipper: ValueReader | undefined;
const EMPTY = new Uint8Array(0);

/** Validates the value at `pos` (strictly) and returns where it ends, without building it. */
export function skipValue(bytes: Uint8Array, pos: number): number {
  // Created on first use: the class is declared below.
  const r = (skipper ??= new ValueReader(EMPTY, true));
  r.reset(bytes);
  try {
    r.skip(pos, 0);
    return r.pos;
  } finally {
    // Not keeping the last node's bytes (and its slab) alive.
    r.reset(EMPTY);
  }
}

/** Whether `b[start, end)` is UTF-8: short ASCII runs (most keys) without a call into C++ and a view. */
function utf8At(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] >= 0x80) return isUtf8(b.subarray(start, end));
  return true;
}

class ValueReader {
  pos = 0;
  private b: Uint8Array;
  private readonly strict: boolean;
  private readonly heads: Head[] = [];

  constructor(b: Uint8Array, strict: boolean) {
    this.b = b;
    this.strict = strict;
  }

  reset(b: Uint8Array): void {
    this.b = b;
    this.pos = 0;
  }

  private head(p: number, depth: number): Head {
    if (depth > F.MAX_DEPTH) throw malformed(`nested deeper than ${F.MAX_DEPTH} levels`);
    let h = this.heads[depth];
    if (h === undefined) {
      h = new Head();
      this.heads[depth] = h;
    }
    readHead(this.b, p, h);
    if (this.strict) checkCanonical(this.b, p, h);
    return h;
  }

  value(p: number, depth: number): Value {
    const b = this.b;
    const h = this.head(p, depth);
    switch (h.rank) {
      case F.RANK_NIL:
        this.pos = h.start;
        return null;
      case F.RANK_BOOL:
        this.pos = h.start;
        return h.num === 1;
      case F.RANK_NUMBER:
        this.pos = h.extType === F.EXT_BIGINT ? h.start + h.len : h.start;
        if (h.isFloat) return Number.isInteger(h.num) ? new Float(h.num) : h.num;
        return h.big ?? h.num;
      case F.RANK_BYTES:
        this.pos = h.start + h.len;
        // A copy: Buffer#slice shares memory, and callers may reuse their input buffer.
        return Buffer.from(b.subarray(h.start, this.pos));
      case F.RANK_STRING:
        this.pos = h.start + h.len;
        return utf8(b, h.start, this.pos);
      case F.RANK_LINK:
        this.pos = h.start + h.len;
        if (!isId(b.subarray(h.start, this.pos))) throw malformed('link is not a sha2-256 multihash');
        return new Link(Buffer.from(b.subarray(h.start, this.pos)));
      case F.RANK_TUPLE: {
        const end = h.start + h.len;
        const items = this.value(h.start, depth + 1);
        if (!Array.isArray(items) || this.pos !== end) throw malformed('tuple payload is not one list');
        return new Tuple(items);
      }
      case F.RANK_LIST: {
        const out: Value[] = new Array(h.len);
        let q = h.start;
        for (let i = 0; i < out.length; i++) {
          out[i] = this.value(q, depth + 1);
          q = this.pos;
        }
        this.pos = q;
        return out;
      }
      default: {
        const m = new Map<Value, Value>();
        const n = h.len;
        let q = h.start;
        let prevKey = -1;
        const keyStarts: number[] = [];
        for (let i = 0; i < n; i++) {
          if (this.strict && prevKey >= 0 && compareAt(b, prevKey, b, q, 0) >= 0) {
            throw malformed('map keys are not in ascending order');
          }
          prevKey = q;
          keyStarts.push(q);
          const k = this.value(q, depth + 1);
          m.set(k, this.value(this.pos, depth + 1));
          q = this.pos;
        }
        this.pos = q;
        // Loose input may list keys in any order: sort their encodings to find equal ones.
        if (!this.strict) {
          keyStarts.sort((x, y) => compareAt(b, x, b, y, 0));
          for (let i = 1; i < keyStarts.length; i++) {
            if (compareAt(b, keyStarts[i - 1], b, keyStarts[i], 0) === 0) throw malformed('map has two equal keys');
          }
        }
        return m;
      }
    }
  }

  skip(p: number, depth: number): void {
    const b = this.b;
    const h = this.head(p, depth);
    switch (h.rank) {
      case F.RANK_LIST:
      case F.RANK_MAP: {
        const isMap = h.rank === F.RANK_MAP;
        const n = isMap ? h.len * 2 : h.len;
        let q = h.start;
        let prevKey = -1;
        for (let i = 0; i < n; i++) {
          if (isMap && i % 2 === 0) {
            if (prevKey >= 0 && compareAt(b, prevKey, b, q, 0) >= 0) throw malformed('map keys are not in ascending order');
            prevKey = q;
          }
          this.skip(q, depth + 1);
          q = this.pos;
        }
        this.pos = q;
        return;
      }
      case F.RANK_STRING:
        this.pos = h.start + h.len;
        if (!utf8At(b, h.start, this.pos)) throw malformed('string is not valid UTF-8');
        return;
      case F.RANK_TUPLE: {
        const end = h.start + h.len;
        const inner = this.head(h.start, depth + 1);
        if (inner.rank !== F.RANK_LIST) throw malformed('tuple payload is not one list');
        this.skip(h.start, depth + 1);
        if (this.pos !== end) throw malformed('tuple payload is not one list');
        return;
      }
      case F.RANK_LINK:
        this.pos = h.start + h.len;
        if (!isIdAt(b, h.start, h.len)) throw malformed('link is not a sha2-256 multihash');
        return;
      case F.RANK_BYTES:
        this.pos = h.start + h.len;
        return;
      default:
        this.pos = h.extType === F.EXT_BIGINT ? h.start + h.len : h.start;
    }
  }
}

// ignoreBOM: a leading U+FEFF is content, not a marker to strip, or bytes would not round-trip.
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8(b: Uint8Array, start: number, end: number): string {
  try {
    return textDecoder.decode(b.subarray(start, end));
  } catch {
    throw malformed('string is not valid UTF-8');
  }
}

/** Rejects every encoding other than the one canonical encoder would write. */
function checkCanonical(b: Uint8Array, p: number, h: Head): void {
  const t = h.tag;
  switch (h.rank) {
    case F.RANK_NUMBER:
      if (h.isFloat) {
        if (t !== F.FLOAT64) throw malformed('floats must be float64');
        if (Object.is(h.num, -0)) throw malformed('negative zero is written as zero');
        if (Number.isNaN(h.num) && (b[p + 1] !== 0x7f || b[p + 2] !== 0xf8 || anyNonZero(b, p + 3, p + 9))) {
          throw malformed('NaN must be the quiet NaN 0x7ff8000000000000');
        }
        return;
      }
      if (h.extType === F.EXT_BIGINT) {
        checkExtHeader(t, h.len);
        const big = h.big as bigint;
        if (big >= INT64_MIN && big <= UINT64_MAX) throw malformed('big integer fits a msgpack integer');
        if (h.len > 1) {
          const first = b[h.start];
          const signOfSecond = b[h.start + 1] & 0x80;
          if ((first === 0 && signOfSecond === 0) || (first === 0xff && signOfSecond !== 0)) {
            throw malformed('big integer has a redundant leading byte');
          }
        }
        return;
      }
      if (intTag(h.big ?? h.num) !== t) throw malformed('integer not in its shortest form');
      return;
    case F.RANK_BYTES:
      if (t !== (h.len <= 0xff ? F.BIN8 : h.len <= 0xffff ? F.BIN16 : F.BIN32)) throw malformed('bytes header not minimal');
      return;
    case F.RANK_STRING:
      if (t !== minimalTag(h.len, 0xa0, 31, F.STR8, F.STR16, F.STR32)) throw malformed('string header not minimal');
      return;
    case F.RANK_LIST:
      if (t !== minimalTag(h.len, 0x90, 15, 0, F.ARRAY16, F.ARRAY32)) throw malformed('array header not minimal');
      return;
    case F.RANK_MAP:
      if (t !== minimalTag(h.len, 0x80, 15, 0, F.MAP16, F.MAP32)) throw malformed('map header not minimal');
      return;
    case F.RANK_TUPLE:
    case F.RANK_LINK:
      checkExtHeader(t, h.len);
      return;
  }
}

function anyNonZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return true;
  return false;
}

function minimalTag(n: number, fix: number, fixMax: number, t8: number, t16: number, t32: number): number {
  if (n <= fixMax) return fix | n;
  if (t8 !== 0 && n <= 0xff) return t8;
  return n <= 0xffff ? t16 : t32;
}

function checkExtHeader(t: number, len: number): void {
  const fix = len === 1 ? 0 : len === 2 ? 1 : len === 4 ? 2 : len === 8 ? 3 : len === 16 ? 4 : -1;
  const want = fix >= 0 ? F.FIXEXT1 + fix : len <= 0xff ? F.EXT8 : len <= 0xffff ? F.EXT16 : F.EXT32;
  if (t !== want) throw malformed('extension header not minimal');
}

/** The tag the canonical encoder uses for an integer in msgpack's native range. */
function intTag(n: number | bigint): number {
  if (n >= 0) {
    if (n <= 0x7f) return Number(n);
    if (n <= 0xff) return F.UINT8;
    if (n <= 0xffff) return F.UINT16;
    if (n <= 0xffffffff) return F.UINT32;
    return F.UINT64;
  }
  if (n >= -32) return Number(n) & 0xff;
  if (n >= -0x80) return F.INT8;
  if (n >= -0x8000) return F.INT16;
  if (n >= -0x80000000) return F.INT32;
  return F.INT64;
}
