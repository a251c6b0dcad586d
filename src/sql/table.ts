import { Buffer } from 'node:buffer';
import { Tuple, decodeValue, encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { applyAffinity } from './affinity.ts';
import { type TableDef, isRowidAlias } from './catalog.ts';
import { OverlayTree, type TreeSource } from './overlay.ts';
import { type RowCodec, TOP, codecFor, normalize } from './rowcodec.ts';
import type { SqlValue } from './sqlite.ts';
import type { Conflict } from './statement.ts';

const NIL = encodeValue(null);
const ONE = encodeValue(1);

function constraint(message: string): CrissError {
  return new CrissError('CONSTRAINT', message);
}

/**
 * One table during a call: its rows and index trees under the call's pending writes, and the
 * constraints SQLite leaves to a virtual table (affinity, NOT NULL, PRIMARY KEY, UNIQUE).
 */
export class TableState {
  def: TableDef;
  codec: RowCodec;
  readonly rows: OverlayTree;
  indexes: OverlayTree[];
  /** The schema changed in this call (the rows may not have). */
  defChanged = false;

  constructor(def: TableDef, rows: OverlayTree, indexes: OverlayTree[]) {
    this.def = def;
    this.codec = codecFor(def);
    this.rows = rows;
    this.indexes = indexes;
  }

  static async open(src: TreeSource, def: TableDef, rows: Uint8Array, indexRoots: Uint8Array[]): Promise<TableState> {
    const [r, ...ix] = await Promise.all([rows, ...indexRoots].map((id) => src.trees.root(id)));
    return new TableState(def, new OverlayTree(src, r), ix.map((n) => new OverlayTree(src, n)));
  }

  get changed(): boolean {
    return this.defChanged || this.rows.changed || this.indexes.some((i) => i.changed);
  }

  /** How many copies of the row (1 for a keyed table), 0 when absent. */
  async copies(key: Uint8Array): Promise<number> {
    const v = await this.rows.get(key);
    if (v === undefined) return 0;
    return this.codec.counted ? Number(decodeValue(v)) : 1;
  }

  async row(key: Uint8Array): Promise<SqlValue[] | undefined> {
    const v = await this.rows.get(key);
    return v === undefined ? undefined : this.codec.rowOf(key, v);
  }

  private qualified(cols: number[]): string {
    return cols.map((c) => `${this.def.name}.${this.def.columns[c].name}`).join(', ');
  }

  /** Affinity and NOT NULL on a row about to be stored; fills an INTEGER PRIMARY KEY left NULL. */
  async prepare(input: SqlValue[]): Promise<SqlValue[]> {
    const row = input.map((v, i) => applyAffinity(v, this.codec.affinity[i]));
    if (isRowidAlias(this.def)) {
      const c = this.codec.keyCols[0];
      if (row[c] === null) row[c] = await this.nextRowid();
      else if (typeof row[c] !== 'number' && typeof row[c] !== 'bigint') throw new CrissError('CONSTRAINT', 'datatype mismatch');
    }
    this.def.columns.forEach((col, i) => {
      if (row[i] === null && (col.notNull || (!this.codec.counted && this.codec.keyCols.includes(i)))) throw constraint(`NOT NULL constraint failed: ${this.def.name}.${col.name}`);
    });
    return row;
  }

  private async nextRowid(): Promise<number | bigint> {
    for await (const e of this.rows.range({ reverse: true })) {
      const last = decodeValue(e.key);
      if (typeof last === 'bigint') return last + 1n;
      if (typeof last === 'number' && Number.isInteger(last)) return Number.isSafeInteger(last + 1) ? last + 1 : BigInt(last) + 1n;
      break;
    }
    return 1;
  }

  /** The key of another row holding the same values in a unique index, if any. */
  private async uniqueClash(ix: number, row: SqlValue[], self: Uint8Array | null): Promise<Uint8Array | undefined> {
    const cols = this.codec.indexCols[ix];
    if (cols.some((c) => row[c] === null)) return undefined;
    const prefix = cols.map((c) => normalize(row[c]));
    const range = { min: { key: encodeValue(new Tuple(prefix)), inclusive: true }, max: { key: encodeValue(new Tuple([...prefix, TOP])), inclusive: false } };
    for await (const e of this.indexes[ix].range(range)) {
      const other = this.codec.rowKeyOfIndexKey(ix, e.key);
      if (self === null || Buffer.compare(other, self) !== 0) return other;
    }
    return undefined;
  }

  private putIndexes(row: SqlValue[], present: boolean): void {
    this.indexes.forEach((t, i) => t.set(this.codec.indexKey(i, row), present ? NIL : null));
  }

  /** Stores a prepared row. Returns false when `OR IGNORE` skipped it. */
  async insert(row: SqlValue[], conflict: Conflict): Promise<boolean> {
    const key = this.codec.keyOf(row);
    const have = await this.copies(key);
    if (this.codec.counted) {
      for (let i = 0; i < this.indexes.length; i++) {
        if (!this.def.indexes[i].unique) continue;
        const clash = have > 0 && !this.codec.indexCols[i].some((c) => row[c] === null) ? key : await this.uniqueClash(i, row, null);
        if (clash !== undefined && !(await this.resolve(clash, conflict, this.codec.indexCols[i]))) return false;
      }
      const now = await this.copies(key);
      this.rows.set(key, now === 0 ? ONE : encodeValue(now + 1));
      if (now === 0) this.putIndexes(row, true);
      return true;
    }
    if (have > 0 && !(await this.resolve(key, conflict, this.codec.keyCols))) return false;
    for (let i = 0; i < this.indexes.length; i++) {
      if (!this.def.indexes[i].unique) continue;
      const clash = await this.uniqueClash(i, row, null);
      if (clash !== undefined && !(await this.resolve(clash, conflict, this.codec.indexCols[i]))) return false;
    }
    this.rows.set(key, this.codec.valueOf(row));
    this.putIndexes(row, true);
    return true;
  }

  /** A clash under the statement's conflict clause: REPLACE deletes the old row, IGNORE skips. */
  private async resolve(clash: Uint8Array, conflict: Conflict, cols: number[]): Promise<boolean> {
    if (conflict === 'IGNORE') return false;
    if (conflict === 'ABORT') throw constraint(`UNIQUE constraint failed: ${this.qualified(cols)}`);
    while ((await this.copies(clash)) > 0) await this.delete(clash);
    return true;
  }

  /** Deletes the row (one copy of it, in a table without a primary key). */
  async delete(key: Uint8Array): Promise<void> {
    const v = await this.rows.get(key);
    if (v === undefined) return;
    const row = this.codec.rowOf(key, v);
    if (this.codec.counted) {
      const n = Number(decodeValue(v));
      if (n > 1) {
        this.rows.set(key, encodeValue(n - 1));
        return;
      }
    }
    this.rows.set(key, null);
    this.putIndexes(row, false);
  }

  async update(oldKey: Uint8Array, next: SqlValue[]): Promise<void> {
    const key = this.codec.keyOf(next);
    const moved = Buffer.compare(key, oldKey) !== 0;
    if (!this.codec.counted) {
      if (moved && (await this.copies(key)) > 0) throw constraint(`UNIQUE constraint failed: ${this.qualified(this.codec.keyCols)}`);
      for (let i = 0; i < this.indexes.length; i++) {
        if (this.def.indexes[i].unique && (await this.uniqueClash(i, next, oldKey)) !== undefined) {
          throw constraint(`UNIQUE constraint failed: ${this.qualified(this.codec.indexCols[i])}`);
        }
      }
      await this.delete(oldKey);
      this.rows.set(key, this.codec.valueOf(next));
      this.putIndexes(next, true);
      return;
    }
    await this.delete(oldKey);
    await this.insert(next, 'ABORT');
  }
}
