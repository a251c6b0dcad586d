import { Float, Link, Tuple, type Value, decodeValue, encodeValue } from '../codec/index.ts';
import { Head, readHead } from '../codec/head.ts';
import { RANK_LIST } from '../codec/format.ts';
import { CrissError } from '../errors.ts';
import type { Affinity } from './affinity.ts';
import { type TableDef, affinities, columnIndex, fingerprint } from './catalog.ts';
import { lastEnd, scalarAt, skipAt } from './scalar.ts';
import type { SqlValue } from './sqlite.ts';

/**
 * How one table's rows and index entries become tree keys and values (docs/format.md §14).
 * Keys are compared by the codec's order, so key values are normalized: SQLite holds 1 and 1.0
 * equal, the codec does not, and an integral real in a key is written as the integer.
 */
export class RowCodec {
  readonly def: TableDef;
  readonly affinity: Affinity[];
  /** Columns forming the row key: the primary key, or every column when there is none. */
  readonly keyCols: number[];
  /** The other columns, whose values (trailing NULLs dropped) are the row's tree value. */
  readonly valueCols: number[];
  /** No declared primary key: the key is the whole row and the value counts its copies. */
  readonly counted: boolean;
  readonly indexCols: number[][];
  /** A single-column primary key: the row key is that value's bare encoding. */
  readonly bareKey: boolean;
  /** Tells apart the schemas one stored row tree may be read with. */
  readonly fingerprint: string;

  constructor(def: TableDef) {
    this.def = def;
    this.fingerprint = fingerprint(def);
    this.affinity = affinities(def);
    this.counted = def.pk.length === 0;
    this.keyCols = this.counted ? def.columns.map((_, i) => i) : def.pk.map((c) => columnIndex(def, c));
    const inKey = new Set(this.keyCols);
    this.valueCols = def.columns.map((_, i) => i).filter((i) => !inKey.has(i));
    this.indexCols = def.indexes.map((ix) => ix.columns.map((c) => columnIndex(def, c)));
    this.bareKey = this.keyCols.length === 1 && !this.counted;
  }

  /** A single-column primary key is the bare value; anything else a tuple. */
  private keyOfParts(parts: Value[]): Uint8Array {
    return encodeValue(parts.length === 1 && !this.counted ? parts[0] : new Tuple(parts));
  }

  keyOf(row: SqlValue[]): Uint8Array {
    return this.keyOfParts(this.keyCols.map((c) => normalize(row[c])));
  }

  keyParts(key: Uint8Array): Value[] {
    const v = decodeValue(key);
    return v instanceof Tuple ? [...v.items] : [v];
  }

  valueOf(row: SqlValue[]): Uint8Array {
    const vals = this.valueCols.map((c) => row[c] as Value);
    let n = vals.length;
    while (n > 0 && vals[n - 1] === null) n--;
    return encodeValue(vals.slice(0, n));
  }

  rowOf(key: Uint8Array, value: Uint8Array | null): SqlValue[] {
    const row = new Array<SqlValue>(this.def.columns.length).fill(null);
    if (this.bareKey) {
      const c = this.keyCols[0];
      row[c] = restore(scalarAt(key, 0), this.affinity[c]);
      if (lastEnd() !== key.length) throw new CrissError('BADVALUE', `a row key of ${this.def.name} is not one value`);
    } else {
      const parts = this.keyParts(key);
      this.keyCols.forEach((c, i) => (row[c] = restore(parts[i] as SqlValue, this.affinity[c])));
    }
    if (value !== null && !this.counted) {
      const vals = decodeValue(value);
      if (!Array.isArray(vals)) throw new CrissError('BADVALUE', `a row of ${this.def.name} is not a list`);
      this.valueCols.forEach((c, i) => (row[c] = i < vals.length ? (vals[i] as SqlValue) : null));
    }
    return row;
  }

  /**
   * `rowOf` for a statement that reads only the columns whose bits `used` sets (SQLite's
   * colUsed; -1: all): the value's other items are skipped, not decoded, and read as NULL.
   */
  rowOfUsed(key: Uint8Array, value: Uint8Array | null, used: number): SqlValue[] {
    if (used < 0 || value === null || this.counted) return this.rowOf(key, value);
    const row = this.rowOf(key, null);
    readHead(value, 0, valueHead);
    if (valueHead.rank !== RANK_LIST) throw new CrissError('BADVALUE', `a row of ${this.def.name} is not a list`);
    let p = valueHead.start;
    const n = Math.min(valueHead.len, this.valueCols.length);
    // valueCols ascend, so once no higher bit is set the rest of the row is never read.
    for (let i = 0; i < n && used >>> this.valueCols[i] !== 0; i++) {
      const c = this.valueCols[i];
      if ((used >>> c) & 1) row[c] = scalarAt(value, p);
      p = (used >>> c) & 1 ? lastEnd() : skipAt(value, p);
    }
    return row;
  }

  /** Index entry key: the indexed values, then the row key's parts (so entries are distinct). */
  indexKey(ix: number, row: SqlValue[]): Uint8Array {
    return encodeValue(new Tuple([...this.indexCols[ix].map((c) => normalize(row[c])), ...this.keyCols.map((c) => normalize(row[c]))]));
  }

  rowKeyOfIndexKey(ix: number, key: Uint8Array): Uint8Array {
    if (this.bareKey) {
      // A bare key is the tuple's last item, whose canonical bytes end the index key.
      readHead(key, 0, tupleHead);
      readHead(key, tupleHead.start, listHead);
      let p = listHead.start;
      for (let i = 0; i < this.indexCols[ix].length; i++) p = skipAt(key, p);
      return key.subarray(p);
    }
    const parts = (decodeValue(key) as Tuple).items;
    return this.keyOfParts(parts.slice(this.indexCols[ix].length) as Value[]);
  }
}

const tupleHead = new Head();
const listHead = new Head();
const valueHead = new Head();

const codecs = new WeakMap<TableDef, RowCodec>();

/** Schemas come from a per-root catalog cache, so each is compiled into a codec once. */
export function codecFor(def: TableDef): RowCodec {
  let c = codecs.get(def);
  if (c === undefined) {
    c = new RowCodec(def);
    codecs.set(def, c);
  }
  return c;
}

export function normalize(v: SqlValue): Value {
  if (v instanceof Float && Number.isSafeInteger(v.value)) return v.value;
  return v;
}

function restore(v: SqlValue, a: Affinity): SqlValue {
  if (a === 'REAL' && (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) return new Float(Number(v));
  return v;
}

/** Greater than every SQL value: bounds "every key starting with this prefix" from above. */
export const TOP = new Link(new Uint8Array(34).fill(0xff));
