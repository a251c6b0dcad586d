import { Float } from '../codec/index.ts';
import type { SqlValue } from './sqlite.ts';

/**
 * Column type affinity, done here because SQLite leaves it to virtual tables: the rules and
 * conversions of https://sqlite.org/datatype3.html §3, applied to every value stored.
 */
export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

export function affinityOf(declaredType: string): Affinity {
  const t = declaredType.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t.includes('BLOB') || t === '') return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const NUMBER_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;

function realOf(v: SqlValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Float) return v.value;
  return undefined;
}

function asReal(d: number): number | Float {
  return Number.isInteger(d) ? new Float(d) : d;
}

/**
 * A real that is exactly an in-range integer becomes that integer (NUMERIC and INTEGER). As in
 * SQLite (sqlite3VdbeIntegerAffinity), -2^63 is out of range: it stays a real.
 */
function integralOrReal(d: number): SqlValue {
  if (Number.isInteger(d) && d > -9223372036854775808 && d < 9223372036854775808) {
    return Number.isSafeInteger(d) ? d : BigInt(d);
  }
  return asReal(d);
}

/** A decimal integer of at most 15 digits (every PARAMS value of a key lookup), else NaN: no pattern, no BigInt. */
function shortInteger(s: string): number {
  const n = s.length;
  if (n === 0 || n > 16) return NaN;
  let i = s.charCodeAt(0) === 0x2d || s.charCodeAt(0) === 0x2b ? 1 : 0;
  if (i === n || n - i > 15) return NaN;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return NaN;
  }
  // + 0 turns "-0" into the integer 0, as SQLite reads it.
  return Number(s) + 0;
}

function numericText(s: string): SqlValue | undefined {
  const short = shortInteger(s);
  if (!Number.isNaN(short)) return short;
  if (!NUMBER_TEXT.test(s)) return undefined;
  if (INTEGER_TEXT.test(s)) {
    const n = BigInt(s.trim());
    if (n >= INT64_MIN && n <= INT64_MAX) return Number.isSafeInteger(Number(n)) ? Number(n) : n;
  }
  return integralOrReal(Number(s.trim()));
}

export function applyAffinity(v: SqlValue, a: Affinity): SqlValue {
  if (v === null || a === 'BLOB' || v instanceof Uint8Array) return v;
  if (a === 'TEXT') {
    if (typeof v === 'string') return v;
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return String(v);
    return realToText(realOf(v) as number);
  }
  if (typeof v === 'string') {
    const n = numericText(v);
    if (n === undefined) return v;
    return a === 'REAL' ? asReal(realOf(n) as number) : n;
  }
  if (a === 'REAL') return typeof v === 'number' && !Number.isInteger(v) ? v : asReal(realOf(v) as number);
  if (v instanceof Float) return integralOrReal(v.value);
  return v;
}

/** SQLite's `%!.15g`: 15 significant digits, and a real always shows a decimal point. */
export function realToText(d: number): string {
  if (Number.isNaN(d)) return '';
  if (!Number.isFinite(d)) return d > 0 ? 'Inf' : '-Inf';
  if (d === 0) return '0.0';
  const [mant, expText] = d.toExponential(14).split('e');
  const exp = Number(expText);
  const digits = mant.replace('.', '').replace('-', '').replace(/0+$/, '');
  const sign = d < 0 ? '-' : '';
  if (exp < -4 || exp >= 15) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : `${digits}.0`;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${int}.${frac === '' ? '0' : frac}`;
}
