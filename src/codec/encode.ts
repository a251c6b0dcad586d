// The global Buffer is a getter (about 0.2 µs per use): hot paths import it.
import { Buffer } from 'node:buffer';
import { CrissError } from '../errors.ts';
import { compareEncoded } from './compare.ts';
import * as F from './format.ts';
import { Float, Link, Tuple, type Value } from './value.ts';

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** A growable output buffer; `finish()` returns a Buffer view of what was written. */
export class ByteWriter {
  private buf: Buffer;
  private view: DataView;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  u8u8(a: number, b: number): void {
    this.ensure(2);
    this.buf[this.pos++] = a;
    this.buf[this.pos++] = b;
  }

  u16(tag: number, n: number): void {
    this.ensure(3);
    this.buf[this.pos] = tag;
    this.view.setUint16(this.pos + 1, n);
    this.pos += 3;
  }

  u32(tag: number, n: number): void {
    this.ensure(5);
    this.buf[this.pos] = tag;
    this.view.setUint32(this.pos + 1, n);
    this.pos += 5;
  }

  u64(tag: number, n: bigint): void {
    this.ensure(9);
    this.buf[this.pos] = tag;
    this.view.setBigUint64(this.pos + 1, BigInt.asUintN(64, n));
    this.pos += 9;
  }

  f64(n: number): void {
    this.ensure(9);
    this.buf[this.pos] = F.FLOAT64;
    this.view.setFloat64(this.pos + 1, n);
    this.pos += 9;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Writes a string's UTF-8 bytes with the minimal str header. */
  str(s: string): void {
    // Worst case 3 bytes per UTF-16 unit; short strings take the fixstr path after the fact.
    const max = s.length * 3;
    this.ensure(max + 5);
    const headerLen = max <= 31 ? 1 : max <= 0xff ? 2 : max <= 0xffff ? 3 : 5;
    const start = this.pos + headerLen;
    const written = this.buf.write(s, start, 'utf8');
    const minimal = written <= 31 ? 1 : written <= 0xff ? 2 : written <= 0xffff ? 3 : 5;
    if (minimal !== headerLen) this.buf.copy(this.buf, this.pos + minimal, start, start + written);
    this.lenHeader(written, 0xa0, 31, F.STR8, F.STR16, F.STR32);
    this.pos += written;
  }

  /** Minimal length header: fixed form up to `fixMax`, then 8/16/32-bit forms. */
  lenHeader(n: number, fix: number, fixMax: number, t8: number, t16: number, t32: number): void {
    if (n <= fixMax) this.u8(fix | n);
    else if (t8 !== 0 && n <= 0xff) this.u8u8(t8, n);
    else if (n <= 0xffff) this.u16(t16, n);
    else this.u32(t32, n);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export function writeInt(w: ByteWriter, n: number): void {
  if (n >= 0) {
    if (n <= 0x7f) w.u8(n);
    else if (n <= 0xff) w.u8u8(F.UINT8, n);
    else if (n <= 0xffff) w.u16(F.UINT16, n);
    else if (n <= 0xffffffff) w.u32(F.UINT32, n);
    else w.u64(F.UINT64, BigInt(n));
  } else if (n >= -32) w.u8(n & 0xff);
  else if (n >= -0x80) w.u8u8(F.INT8, n & 0xff);
  else if (n >= -0x8000) w.u16(F.INT16, n & 0xffff);
  else if (n >= -0x80000000) w.u32(F.INT32, n >>> 0);
  else w.u64(F.INT64, BigInt(n));
}

function writeBigInt(w: ByteWriter, n: bigint): void {
  if (n >= INT64_MIN && n <= UINT64_MAX) {
    if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) writeInt(w, Number(n));
    else w.u64(n >= 0n ? F.UINT64 : F.INT64, n);
    return;
  }
  writeExt(w, F.EXT_BIGINT, bigintToTwosComplement(n));
}

/** Minimal big-endian two's complement: no leading byte that only repeats the sign. */
export function bigintToTwosComplement(n: bigint): Uint8Array {
  const out: number[] = [];
  let x = n;
  for (;;) {
    const byte = Number(BigInt.asUintN(8, x));
    out.push(byte);
    x >>= 8n;
    if ((x === 0n && (byte & 0x80) === 0) || (x === -1n && (byte & 0x80) !== 0)) break;
  }
  return Uint8Array.from(out.reverse());
}

export function writeExt(w: ByteWriter, type: number, payload: Uint8Array): void {
  const n = payload.length;
  const fix = n === 1 ? 0 : n === 2 ? 1 : n === 4 ? 2 : n === 8 ? 3 : n === 16 ? 4 : -1;
  if (fix >= 0) w.u8(F.FIXEXT1 + fix);
  else if (n <= 0xff) w.u8u8(F.EXT8, n);
  else if (n <= 0xffff) w.u16(F.EXT16, n);
  else w.u32(F.EXT32, n);
  w.u8(type);
  w.bytes(payload);
}

export function writeFloat(w: ByteWriter, n: number): void {
  // One encoding per float value: -0 folds into 0 and every NaN into the quiet NaN.
  w.f64(Number.isNaN(n) ? NaN : n === 0 ? 0 : n);
}

export function writeBin(w: ByteWriter, b: Uint8Array): void {
  const n = b.length;
  if (n <= 0xff) w.u8u8(F.BIN8, n);
  else if (n <= 0xffff) w.u16(F.BIN16, n);
  else w.u32(F.BIN32, n);
  w.bytes(b);
}

export function writeValue(w: ByteWriter, v: Value, depth = 0): void {
  if (depth > F.MAX_DEPTH) throw new CrissError('BADVALUE', `value nested deeper than ${F.MAX_DEPTH} levels`);
  if (v === null) return w.u8(F.NIL);
  switch (typeof v) {
    case 'boolean':
      return w.u8(v ? F.TRUE : F.FALSE);
    case 'number':
      return Number.isSafeInteger(v) ? writeInt(w, v) : writeFloat(w, v);
    case 'bigint':
      return writeBigInt(w, v);
    case 'string':
      // A lone surrogate has no UTF-8 form; writing U+FFFD would merge distinct keys.
      if (!v.isWellFormed()) throw new CrissError('BADVALUE', 'string holds a lone UTF-16 surrogate');
      return w.str(v);
  }
  if (v instanceof Uint8Array) return writeBin(w, v);
  if (v instanceof Float) return writeFloat(w, v.value);
  if (Array.isArray(v)) {
    w.lenHeader(v.length, 0x90, 15, 0, F.ARRAY16, F.ARRAY32);
    for (const item of v) writeValue(w, item, depth + 1);
    return;
  }
  if (v instanceof Tuple) return writeExt(w, F.EXT_TUPLE, encodeValue(v.items as Value[], depth + 1));
  if (v instanceof Link) return writeExt(w, F.EXT_LINK, v.id);
  if (v instanceof Map) return writeMap(w, v, depth);
  throw new CrissError('BADVALUE', `cannot encode a value of type ${Object.prototype.toString.call(v)}`);
}

function writeMap(w: ByteWriter, m: Map<Value, Value>, depth: number): void {
  const entries: Array<[Uint8Array, Value]> = [];
  for (const [k, val] of m) entries.push([encodeValue(k, depth + 1), val]);
  entries.sort((a, b) => compareEncoded(a[0], b[0]));
  for (let i = 1; i < entries.length; i++) {
    if (compareEncoded(entries[i - 1][0], entries[i][0]) === 0) {
      throw new CrissError('BADVALUE', 'map has two equal keys');
    }
  }
  w.lenHeader(entries.length, 0x80, 15, 0, F.MAP16, F.MAP32);
  for (const [k, val] of entries) {
    w.bytes(k);
    writeValue(w, val, depth + 1);
  }
}

/** Canonical bytes of a value (docs/format.md §2). */
export function encodeValue(v: Value, depth = 0): Buffer {
  const w = new ByteWriter(64);
  writeValue(w, v, depth);
  return w.finish();
}

/** Canonical bytes of the value *bytes* holding `raw`: what a `*BIN` argument means. */
export function encodeBytes(raw: Uint8Array): Buffer {
  const n = raw.length;
  if (n <= 0xff) {
    // The common case (keys) without a writer: this runs once per *BIN argument.
    const out = Buffer.allocUnsafe(n + 2);
    out[0] = F.BIN8;
    out[1] = n;
    out.set(raw, 2);
    return out;
  }
  const w = new ByteWriter(n + 5);
  writeBin(w, raw);
  return w.finish();
}
