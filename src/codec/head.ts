import { CrissError } from '../errors.ts';
import * as F from './format.ts';

/**
 * What one msgpack header says, read without decoding the payload. One mutable instance is
 * reused per walk so hot paths (comparing keys inside a node) allocate nothing.
 */
export class Head {
  tag = 0;
  rank = 0;
  /** Number value for ints that fit a double exactly and for floats. */
  num = 0;
  /** Set instead of `num` for integers outside the safe range. */
  big: bigint | null = null;
  isFloat = false;
  /** Ext type for ext tags. */
  extType = 0;
  /** Payload start (bytes, string, ext) or first item (list, map). */
  start = 0;
  /** Payload byte length (bytes, string, ext) or item count (list; pairs for map). */
  len = 0;
}

export function malformed(what: string): CrissError {
  return new CrissError('BADVALUE', `malformed msgpack: ${what}`);
}

function need(buf: Uint8Array, end: number): void {
  if (end > buf.length) throw malformed('truncated value');
}

function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// Floats are read through one scratch buffer: a DataView per value was a tenth of decoding a row.
const scratch = new ArrayBuffer(8);
const scratchBytes = new Uint8Array(scratch);
const scratchF64 = new Float64Array(scratch);
const scratchF32 = new Float32Array(scratch, 0, 1);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A big-endian float of `n` bytes at `p`, in the scratch buffer in host order. */
function loadScratch(b: Uint8Array, p: number, n: number): void {
  for (let i = 0; i < n; i++) scratchBytes[littleEndian ? n - 1 - i : i] = b[p + i];
}

function float64At(b: Uint8Array, p: number): number {
  loadScratch(b, p, 8);
  return scratchF64[0];
}

function float32At(b: Uint8Array, p: number): number {
  loadScratch(b, p, 4);
  return scratchF32[0];
}

/** Reads the header at `p` into `h`. Throws BADVALUE on tags we never accept. */
export function readHead(b: Uint8Array, p: number, h: Head): void {
  need(b, p + 1);
  const t = b[p];
  h.tag = t;
  h.big = null;
  h.isFloat = false;
  h.extType = 0;
  if (t <= 0x7f) return setInt(h, t, p + 1);
  if (t >= 0xe0) return setInt(h, t - 0x100, p + 1);
  if (t >= 0xa0 && t <= 0xbf) return setSized(b, h, F.RANK_STRING, p + 1, t & 0x1f);
  if (t >= 0x90 && t <= 0x9f) return setSized(b, h, F.RANK_LIST, p + 1, t & 0x0f);
  if (t >= 0x80 && t <= 0x8f) return setSized(b, h, F.RANK_MAP, p + 1, t & 0x0f);
  switch (t) {
    case F.NIL:
      h.rank = F.RANK_NIL;
      h.start = p + 1;
      return;
    case F.FALSE:
    case F.TRUE:
      h.rank = F.RANK_BOOL;
      h.num = t === F.TRUE ? 1 : 0;
      h.start = p + 1;
      return;
    case F.UINT8:
      need(b, p + 2);
      return setInt(h, b[p + 1], p + 2);
    case F.UINT16:
      need(b, p + 3);
      return setInt(h, u16(b, p + 1), p + 3);
    case F.UINT32:
      need(b, p + 5);
      return setInt(h, u32(b, p + 1), p + 5);
    case F.INT8:
      need(b, p + 2);
      return setInt(h, (b[p + 1] << 24) >> 24, p + 2);
    case F.INT16:
      need(b, p + 3);
      return setInt(h, (u16(b, p + 1) << 16) >> 16, p + 3);
    case F.INT32:
      need(b, p + 5);
      return setInt(h, u32(b, p + 1) | 0, p + 5);
    case F.UINT64:
    case F.INT64: {
      need(b, p + 9);
      const view = dv(b);
      const big = t === F.UINT64 ? view.getBigUint64(p + 1) : view.getBigInt64(p + 1);
      if (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)) {
        return setInt(h, Number(big), p + 9);
      }
      setInt(h, 0, p + 9);
      h.big = big;
      return;
    }
    case F.FLOAT32:
    case F.FLOAT64: {
      const size = t === F.FLOAT32 ? 4 : 8;
      need(b, p + 1 + size);
      h.rank = F.RANK_NUMBER;
      h.isFloat = true;
      h.num = size === 4 ? float32At(b, p + 1) : float64At(b, p + 1);
      h.start = p + 1 + size;
      return;
    }
    case F.BIN8:
      need(b, p + 2);
      return setSized(b, h, F.RANK_BYTES, p + 2, b[p + 1]);
    case F.BIN16:
      need(b, p + 3);
      return setSized(b, h, F.RANK_BYTES, p + 3, u16(b, p + 1));
    case F.BIN32:
      need(b, p + 5);
      return setSized(b, h, F.RANK_BYTES, p + 5, u32(b, p + 1));
    case F.STR8:
      need(b, p + 2);
      return setSized(b, h, F.RANK_STRING, p + 2, b[p + 1]);
    case F.STR16:
      need(b, p + 3);
      return setSized(b, h, F.RANK_STRING, p + 3, u16(b, p + 1));
    case F.STR32:
      need(b, p + 5);
      return setSized(b, h, F.RANK_STRING, p + 5, u32(b, p + 1));
    case F.ARRAY16:
      need(b, p + 3);
      return setSized(b, h, F.RANK_LIST, p + 3, u16(b, p + 1));
    case F.ARRAY32:
      need(b, p + 5);
      return setSized(b, h, F.RANK_LIST, p + 5, u32(b, p + 1));
    case F.MAP16:
      need(b, p + 3);
      return setSized(b, h, F.RANK_MAP, p + 3, u16(b, p + 1));
    case F.MAP32:
      need(b, p + 5);
      return setSized(b, h, F.RANK_MAP, p + 5, u32(b, p + 1));
    case F.EXT8:
      need(b, p + 3);
      return setExt(b, h, p + 3, b[p + 1], b[p + 2]);
    case F.EXT16:
      need(b, p + 4);
      return setExt(b, h, p + 4, u16(b, p + 1), b[p + 3]);
    case F.EXT32:
      need(b, p + 6);
      return setExt(b, h, p + 6, u32(b, p + 1), b[p + 5]);
  }
  if (t >= F.FIXEXT1 && t <= F.FIXEXT16) {
    need(b, p + 2);
    return setExt(b, h, p + 2, 1 << (t - F.FIXEXT1), b[p + 1]);
  }
  throw malformed(`tag 0x${t.toString(16)} is not used`);
}

function setInt(h: Head, n: number, start: number): void {
  h.rank = F.RANK_NUMBER;
  h.num = n;
  h.start = start;
}

function setSized(b: Uint8Array, h: Head, rank: number, start: number, len: number): void {
  h.rank = rank;
  h.start = start;
  h.len = len;
  // Items take at least a byte each, so this also rejects absurd container counts before any loop.
  if (start + len > b.length) throw malformed('truncated value');
}

function setExt(b: Uint8Array, h: Head, start: number, len: number, type: number): void {
  need(b, start + len);
  h.start = start;
  h.len = len;
  h.extType = type;
  if (type === F.EXT_BIGINT) h.rank = F.RANK_NUMBER;
  else if (type === F.EXT_TUPLE) h.rank = F.RANK_TUPLE;
  else if (type === F.EXT_LINK) h.rank = F.RANK_LINK;
  else throw malformed(`extension type ${(type << 24) >> 24} is not supported`);
  if (type === F.EXT_BIGINT) {
    if (len === 0) throw malformed('empty big integer');
    h.big = twosComplementToBigInt(b, start, start + len);
  }
}

export function twosComplementToBigInt(b: Uint8Array, start: number, end: number): bigint {
  let x = 0n;
  for (let i = start; i < end; i++) x = (x << 8n) | BigInt(b[i]);
  const bits = BigInt((end - start) * 8);
  return (b[start] & 0x80) !== 0 ? x - (1n << bits) : x;
}
