import { Float, Tuple, type Value, encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { RangeOptions } from '../tree/index.ts';
import { applyAffinity } from './affinity.ts';
import { type RowCodec, TOP, normalize } from './rowcodec.ts';
import type { SqlValue } from './sqlite.ts';

/** SQLite's constraint operators (sqlite3_index_constraint.op) that a tree range can serve. */
const EQ = 2;
const GT = 4;
const LE = 8;
const LT = 16;
const GE = 32;

/**
 * An access path chosen by xBestIndex and carried to xFilter in idxStr (planText): the row
 * tree itself (path 0) or index `path - 1`, with `eq` leading columns fixed and optional range
 * bounds on the next one. path -1 is a full scan. Constraints are never marked `omit`: SQLite
 * re-checks every row, so a bound only has to be loose, never exact (the codec orders 1 before
 * 1.0, and bytes before text, where SQLite does neither).
 */
export interface Plan {
  path: number;
  eq: number;
  lo: boolean;
  hi: boolean;
  /** SQLite's colUsed: a bit per column the statement reads (-1: every column). */
  cols: number;
}

interface IndexInfo {
  aConstraint: Array<{ iColumn: number; op: number; usable: boolean }>;
  aConstraintUsage: Array<{ argvIndex: number; omit: boolean }>;
  colUsed: number;
  idxNum: number;
  idxStr: string | null;
  estimatedCost: number;
  estimatedRows: number;
}

function pathColumns(codec: RowCodec, path: number): number[] {
  return path === 0 ? codec.keyCols : codec.indexCols[path - 1];
}

function pathUnique(codec: RowCodec, path: number): boolean {
  return path === 0 || codec.def.indexes[path - 1].unique;
}

export function bestIndex(codec: RowCodec, rowCount: number, info: IndexInfo): void {
  const n = Math.max(rowCount, 1);
  const usable = (col: number, ops: number[]): number => info.aConstraint.findIndex((c) => c.usable && c.iColumn === col && ops.includes(c.op));
  // colUsed is a 64-bit mask read as its low 32 bits; bit 31 would read as the sign.
  const used = codec.def.columns.length <= 31 ? info.colUsed & 0x7fffffff : -1;
  let best = { cost: n * 2 + 10, rows: n, plan: { path: -1, eq: 0, lo: false, hi: false, cols: used }, use: [] as number[] };
  for (let path = 0; path <= codec.indexCols.length; path++) {
    const cols = pathColumns(codec, path);
    const use: number[] = [];
    let eq = 0;
    while (eq < cols.length) {
      const c = usable(cols[eq], [EQ]);
      if (c < 0) break;
      use.push(c);
      eq++;
    }
    let lo = -1;
    let hi = -1;
    if (eq < cols.length) {
      lo = usable(cols[eq], [GT, GE]);
      hi = usable(cols[eq], [LT, LE]);
    }
    if (eq === 0 && lo < 0 && hi < 0) continue;
    if (lo >= 0) use.push(lo);
    if (hi >= 0) use.push(hi);
    const rows = eq === cols.length && pathUnique(codec, path) ? 1 : Math.max(1, n / 10 ** eq / (lo >= 0 || hi >= 0 ? 4 : 1));
    const cost = Math.log2(n + 1) + rows * (path === 0 ? 1 : 2);
    if (cost < best.cost) best = { cost, rows, plan: { path, eq, lo: lo >= 0, hi: hi >= 0, cols: used }, use };
  }
  best.use.forEach((c, i) => (info.aConstraintUsage[c] = { argvIndex: i + 1, omit: false }));
  info.idxNum = best.plan.path + 1;
  info.idxStr = planText(best.plan);
  info.estimatedCost = best.cost;
  info.estimatedRows = Math.ceil(best.rows);
}

const SCAN: Plan = { path: -1, eq: 0, lo: false, hi: false, cols: -1 };
const plans = new Map<string, Plan>();

/**
 * The plan as idxStr: `p<path>e<eq>`, then `l` and `h` for a lower and an upper bound, then
 * `c<colUsed in hex>` (`c-1`: every column), as EXPLAIN QUERY PLAN shows it. Short, since
 * wa-sqlite decodes it from UTF-8 for every xFilter, and text of up to 16 bytes decodes
 * without a TextDecoder call.
 */
function planText(p: Plan): string {
  return `p${p.path}e${p.eq}${p.lo ? 'l' : ''}${p.hi ? 'h' : ''}c${p.cols < 0 ? '-1' : p.cols.toString(16)}`;
}

const PLAN_TEXT = /^p(-?\d+)e(\d+)(l?)(h?)c(-1|[0-9a-f]+)$/;

/** xFilter runs once per outer row of a join: parse each distinct plan once. */
export function parsePlan(idxStr: string | null): Plan {
  if (idxStr === null) return SCAN;
  let p = plans.get(idxStr);
  if (p === undefined) {
    const m = PLAN_TEXT.exec(idxStr);
    if (m === null) throw new CrissError('ERR', `unknown virtual-table plan ${idxStr}`);
    p = { path: Number(m[1]), eq: Number(m[2]), lo: m[3] === 'l', hi: m[4] === 'h', cols: m[5] === '-1' ? -1 : parseInt(m[5], 16) };
    if (plans.size > 10_000) plans.clear();
    plans.set(idxStr, p);
  }
  return p;
}

/**
 * A normalized integer or integral real beyond the safe range (normalize turns the rest into
 * numbers): keys may hold such a value as an integer and as a real, two keys that SQLite holds
 * equal and the codec orders integer first, with nothing between them.
 */
function twoForms(v: Value): v is bigint | Float {
  return typeof v === 'bigint' || (v instanceof Float && Number.isInteger(v.value));
}

const f64 = new Float64Array(1);
const f64bits = new BigInt64Array(f64.buffer);

/** The integer form: at or below both keys of the value. */
function intForm(v: bigint | Float): bigint {
  return typeof v === 'bigint' ? v : BigInt(v.value);
}

/** The real form, rounded up to the next double where the integer has none: at or above both. */
function realForm(v: bigint | Float): Float {
  if (v instanceof Float) return v;
  const f = Number(v);
  if (f === -Infinity) return new Float(-Number.MAX_VALUE);
  if (f === Infinity || BigInt(f) >= v) return new Float(f);
  // |f| >= 2^53: the next double up is one step of the bits away from zero (f > 0), or toward it.
  f64[0] = f;
  f64bits[0] += f > 0 ? 1n : -1n;
  return new Float(f64[0]);
}

/** A lower bound at or below every stored value SQLite would call >= v. */
function lowLoose(v: SqlValue): Value {
  if (typeof v === 'string') return new Uint8Array(0);
  const n = normalize(v);
  return twoForms(n) ? intForm(n) : n;
}

/**
 * An upper bound at or above every stored value SQLite would call <= v; undefined: none. Keys
 * hold an integral real of the safe range as the integer (normalize), so such a bound stays an
 * integer, which tree searches compare without reading headers.
 */
function highLoose(v: SqlValue): Value | undefined {
  if (v instanceof Uint8Array) return undefined;
  const n = normalize(v);
  return twoForms(n) ? realForm(n) : n;
}

export type Access =
  | { kind: 'none' }
  | { kind: 'point'; key: Uint8Array }
  /**
   * `bounds()` builds the tree range (encoding costs, so only when needed); `prefix`, for an
   * equality-only range over tuple keys, is its items' bytes (see prefixRun).
   */
  | { kind: 'range'; bounds: () => RangeOptions; prefix?: { width: number; bytes: Uint8Array } };

/** Turns a plan and the constraint values SQLite passed into a point lookup or a tree range. */
export function access(codec: RowCodec, plan: Plan, args: SqlValue[]): Access {
  if (plan.path < 0) return { kind: 'range', bounds: () => ({}) };
  // A primary-key lookup, most statements of a batch: one value, no arrays on the way.
  if (plan.path === 0 && plan.eq === 1 && codec.bareKey) {
    const v = applyAffinity(args[0], codec.affinity[codec.keyCols[0]]);
    if (v === null) return { kind: 'none' };
    const n = normalize(v);
    if (!twoForms(n)) return { kind: 'point', key: encodeValue(n) };
  }
  const cols = pathColumns(codec, plan.path);
  const vals = args.map((v, i) => applyAffinity(v, codec.affinity[cols[Math.min(i, plan.eq)]]));
  if (vals.some((v) => v === null)) return { kind: 'none' };
  const eqVals = vals.slice(0, plan.eq).map(normalize);
  // An equality on a value with two forms spans both keys: from its integer to its real.
  const split = eqVals.some(twoForms);
  const eqLow = split ? eqVals.map((v) => (twoForms(v) ? intForm(v) : v)) : eqVals;
  const eqHigh = split ? eqVals.map((v) => (twoForms(v) ? realForm(v) : v)) : eqVals;
  let lo = plan.lo ? lowLoose(vals[plan.eq]) : undefined;
  let hi = plan.hi ? highLoose(vals[plan.eq + (plan.lo ? 1 : 0)]) : undefined;
  const bare = plan.path === 0 && !codec.counted && cols.length === 1;
  if (bare && plan.eq === 1) {
    if (!split) return { kind: 'point', key: encodeValue(eqVals[0]) };
    lo = eqLow[0];
    hi = eqHigh[0];
  }
  if (bare) {
    return {
      kind: 'range',
      bounds: () => ({
        min: lo === undefined ? undefined : { key: encodeValue(lo), inclusive: true },
        max: hi === undefined ? undefined : { key: encodeValue(hi), inclusive: true },
      }),
    };
  }
  // A list of up to 15 items has a one-byte header: what follows is the items back to back.
  const prefix = lo === undefined && hi === undefined && !split && plan.eq > 0 && plan.eq <= 15 ? { width: plan.eq, bytes: encodeValue(eqVals).subarray(1) } : undefined;
  const min = lo !== undefined ? [...eqLow, lo] : eqLow;
  const max = hi !== undefined ? [...eqHigh, hi, TOP] : eqHigh.length > 0 ? [...eqHigh, TOP] : undefined;
  return {
    kind: 'range',
    bounds: () => ({
      min: min.length === 0 ? undefined : { key: encodeValue(new Tuple(min)), inclusive: true },
      max: max === undefined ? undefined : { key: encodeValue(new Tuple(max)), inclusive: true },
    }),
    prefix,
  };
}
