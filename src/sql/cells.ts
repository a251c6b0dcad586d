import { Float } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { textAt } from './text.ts';

/** A SQL value as the engine carries it: the codec's value model restricted to SQLite's types. */
export type SqlValue = null | number | bigint | Float | string | Uint8Array;

/** The exports of a wa-sqlite instance these calls use (64-bit integers split in two halves). */
export interface SqliteModule {
  HEAPU8: Uint8Array;
  getTempRet0(): number;
  UTF8ToString(p: number): string;
  _sqlite3_errmsg(db: number): number;
  _sqlite3_malloc(n: number): number;
  _sqlite3_free(p: number): void;
  _sqlite3_step(stmt: number): number;
  _sqlite3_reset(stmt: number): number;
  _sqlite3_bind_parameter_count(stmt: number): number;
  _sqlite3_bind_null(stmt: number, i: number): number;
  _sqlite3_bind_int(stmt: number, i: number, v: number): number;
  _sqlite3_bind_int64(stmt: number, i: number, lo: number, hi: number): number;
  _sqlite3_bind_double(stmt: number, i: number, v: number): number;
  _sqlite3_bind_text(stmt: number, i: number, p: number, n: number, destructor: number): number;
  _sqlite3_bind_blob(stmt: number, i: number, p: number, n: number, destructor: number): number;
  _sqlite3_column_count(stmt: number): number;
  _sqlite3_column_type(stmt: number, i: number): number;
  _sqlite3_column_int64(stmt: number, i: number): number;
  _sqlite3_column_double(stmt: number, i: number): number;
  _sqlite3_column_text(stmt: number, i: number): number;
  _sqlite3_column_blob(stmt: number, i: number): number;
  _sqlite3_column_bytes(stmt: number, i: number): number;
  _sqlite3_value_type(v: number): number;
  _sqlite3_value_int64(v: number): number;
  _sqlite3_value_double(v: number): number;
  _sqlite3_value_text(v: number): number;
  _sqlite3_value_blob(v: number): number;
  _sqlite3_value_bytes(v: number): number;
  _sqlite3_result_null(ctx: number): void;
  _sqlite3_result_int(ctx: number, v: number): void;
  _sqlite3_result_int64(ctx: number, lo: number, hi: number): void;
  _sqlite3_result_double(ctx: number, v: number): void;
  _sqlite3_result_text(ctx: number, p: number, n: number, destructor: number): void;
  _sqlite3_result_blob(ctx: number, p: number, n: number, destructor: number): void;
}

const INTEGER = 1;
const FLOAT = 2;
const TEXT = 3;
const BLOB = 4;
/** SQLITE_TRANSIENT: SQLite copies the bytes before the call returns, so one scratch buffer serves. */
const TRANSIENT = -1;
const TWO32 = 0x1_0000_0000;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const encoder = new TextEncoder();

function real(d: number): number | Float {
  return Number.isInteger(d) ? new Float(d) : d;
}

/**
 * A 64-bit integer from its halves: a number when safe, else a bigint (a number that is no safe
 * integer is a float to the codec, docs/format.md §2; -2^53 is one such).
 */
function int64(lo: number, hi: number): number | bigint {
  if (hi >= -0x20_0000 && hi < 0x20_0000) {
    const n = hi * TWO32 + (lo >>> 0);
    if (Number.isSafeInteger(n)) return n;
  }
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

/**
 * Values in and out of one wa-sqlite instance through its exports, not its API wrappers: each
 * wrapper goes through Emscripten's generic `ccall` (argument arrays, converters, a NUL scan
 * and copy for every string), several per column of every row. Text and blobs going in are
 * written into one scratch buffer that SQLite copies (SQLITE_TRANSIENT).
 */
export class Cells {
  private readonly m: SqliteModule;
  private scratch = 0;
  private room = 0;

  constructor(m: SqliteModule) {
    this.m = m;
  }

  /** The scratch buffer with room for `n` bytes (malloc may grow the memory: read HEAPU8 after). */
  private reserve(n: number): number {
    if (n > this.room) {
      if (this.scratch !== 0) this.m._sqlite3_free(this.scratch);
      this.room = Math.max(256, n, this.room * 2);
      this.scratch = this.m._sqlite3_malloc(this.room);
      if (this.scratch === 0) {
        this.room = 0;
        throw new CrissError('SQL', 'out of memory');
      }
    }
    return this.scratch;
  }

  /** `s` as UTF-8 in the scratch buffer; its length in bytes. */
  private putText(s: string): number {
    const p = this.reserve(s.length * 3);
    const heap = this.m.HEAPU8;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return encoder.encodeInto(s, heap.subarray(p, p + this.room)).written;
      heap[p + i] = c;
    }
    return s.length;
  }

  private putBytes(b: Uint8Array): number {
    const p = this.reserve(b.length);
    this.m.HEAPU8.set(b, p);
    return b.length;
  }

  private text(p: number, n: number): string {
    return textAt(this.m.HEAPU8, p, p + n);
  }

  step(stmt: number): number {
    return this.m._sqlite3_step(stmt);
  }

  reset(stmt: number): number {
    return this.m._sqlite3_reset(stmt);
  }

  errmsg(db: number): string {
    return this.m.UTF8ToString(this.m._sqlite3_errmsg(db));
  }

  columnCount(stmt: number): number {
    return this.m._sqlite3_column_count(stmt);
  }

  /** An argument SQLite handed to a callback (`sqlite3_value*`). */
  value(v: number): SqlValue {
    const m = this.m;
    switch (m._sqlite3_value_type(v)) {
      case INTEGER: {
        const lo = m._sqlite3_value_int64(v);
        return int64(lo, m.getTempRet0());
      }
      case FLOAT:
        return real(m._sqlite3_value_double(v));
      case TEXT: {
        const p = m._sqlite3_value_text(v);
        return this.text(p, m._sqlite3_value_bytes(v));
      }
      case BLOB: {
        const p = m._sqlite3_value_blob(v);
        return m.HEAPU8.slice(p, p + m._sqlite3_value_bytes(v));
      }
      default:
        return null;
    }
  }

  /** A column of the current row of a statement. */
  column(stmt: number, i: number): SqlValue {
    const m = this.m;
    switch (m._sqlite3_column_type(stmt, i)) {
      case INTEGER: {
        const lo = m._sqlite3_column_int64(stmt, i);
        return int64(lo, m.getTempRet0());
      }
      case FLOAT:
        return real(m._sqlite3_column_double(stmt, i));
      case TEXT: {
        const p = m._sqlite3_column_text(stmt, i);
        return this.text(p, m._sqlite3_column_bytes(stmt, i));
      }
      case BLOB: {
        const p = m._sqlite3_column_blob(stmt, i);
        return m.HEAPU8.slice(p, p + m._sqlite3_column_bytes(stmt, i));
      }
      default:
        return null;
    }
  }

  /** Sets a virtual-table column (or function) result; an integral Float stays a real. */
  result(ctx: number, v: SqlValue): void {
    const m = this.m;
    if (v === null) m._sqlite3_result_null(ctx);
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) m._sqlite3_result_double(ctx, v);
      else if ((v | 0) === v) m._sqlite3_result_int(ctx, v);
      else m._sqlite3_result_int64(ctx, v >>> 0, Math.floor(v / TWO32));
    } else if (typeof v === 'bigint') {
      // Beyond 64 bits SQLite has no integer for it: NULL, as wa-sqlite's own result_int64 left it.
      if (v < INT64_MIN || v > INT64_MAX) m._sqlite3_result_null(ctx);
      else m._sqlite3_result_int64(ctx, Number(BigInt.asUintN(32, v)), Number(v >> 32n));
    } else if (v instanceof Float) m._sqlite3_result_double(ctx, v.value);
    else if (typeof v === 'string') {
      const n = this.putText(v);
      m._sqlite3_result_text(ctx, this.scratch, n, TRANSIENT);
    } else {
      const n = this.putBytes(v);
      m._sqlite3_result_blob(ctx, this.scratch, n, TRANSIENT);
    }
  }

  /**
   * Binds a statement's `?` parameters; the count must match, since SQLite would bind NULL to
   * the rest. `null` (no PARAMS) binds NULL to every parameter the statement has.
   */
  bind(stmt: number, given: SqlValue[] | null): void {
    const m = this.m;
    const want = m._sqlite3_bind_parameter_count(stmt);
    if (given === null) {
      for (let i = 1; i <= want; i++) m._sqlite3_bind_null(stmt, i);
      return;
    }
    if (want !== given.length) throw new CrissError('SQL', `the statement has ${want} parameter${want === 1 ? '' : 's'}, PARAMS gave ${given.length}`);
    for (let i = 0; i < given.length; i++) {
      const v = given[i];
      const at = i + 1;
      let rc: number;
      if (v === null) rc = m._sqlite3_bind_null(stmt, at);
      else if (typeof v === 'number') {
        if (!Number.isInteger(v)) rc = m._sqlite3_bind_double(stmt, at, v);
        else if ((v | 0) === v) rc = m._sqlite3_bind_int(stmt, at, v);
        else rc = m._sqlite3_bind_int64(stmt, at, v >>> 0, Math.floor(v / TWO32));
      } else if (typeof v === 'bigint') {
        if (v < INT64_MIN || v > INT64_MAX) throw new CrissError('SQL', `parameter ${at} is out of SQLite's 64-bit integer range`);
        rc = m._sqlite3_bind_int64(stmt, at, Number(BigInt.asUintN(32, v)), Number(v >> 32n));
      } else if (v instanceof Float) rc = m._sqlite3_bind_double(stmt, at, v.value);
      else if (typeof v === 'string') {
        const n = this.putText(v);
        rc = m._sqlite3_bind_text(stmt, at, this.scratch, n, TRANSIENT);
      } else {
        const n = this.putBytes(v);
        rc = m._sqlite3_bind_blob(stmt, at, this.scratch, n, TRANSIENT);
      }
      if (rc !== 0) throw new CrissError('SQL', `parameter ${at} could not be bound (SQLite error ${rc})`);
    }
  }
}
