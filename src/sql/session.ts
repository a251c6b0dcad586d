import { Buffer } from 'node:buffer';
import type { Trees } from '../tree/index.ts';
import type { ScanCache } from './scancache.ts';
import type { SqlValue } from './sqlite.ts';
import type { InsertInfo } from './statement.ts';
import type { TableState } from './table.ts';

/** What the virtual tables see of the call in progress. */
export class Session {
  readonly trees: Trees;
  readonly scans: ScanCache;
  readonly writable: boolean;
  /** Tables by lower-case name (SQLite's names are case-insensitive). */
  readonly tables = new Map<string, TableState>();
  /** Stored table names this call removed (DROP, or the old name of a RENAME). */
  readonly dropped = new Set<string>();
  /** The INSERT being run, and the DEFAULT values of its table's columns. */
  insert: InsertInfo | null = null;
  defaults: SqlValue[] = [];
  /** The real cause when a virtual-table callback fails (SQLite only sees a return code). */
  error: unknown = null;
  private readonly handleIds = new Map<string, number>();
  private readonly handleKeys: Uint8Array[] = [];

  constructor(trees: Trees, scans: ScanCache, writable: boolean) {
    this.trees = trees;
    this.scans = scans;
    this.writable = writable;
  }

  table(name: string): TableState {
    const t = this.tables.get(name.toLowerCase());
    if (t === undefined) throw new Error(`table ${name} is not open`);
    return t;
  }

  /**
   * A rowid for a row key: virtual tables name rows to UPDATE and DELETE by rowid, and ours are
   * keyed by value, so a rowid is a handle valid for this call. `copy` tells apart identical
   * rows of a table without a primary key.
   */
  handle(table: string, key: Uint8Array, copy: number): number {
    const text = `${table}\0${copy}\0${Buffer.from(key).toString('latin1')}`;
    let id = this.handleIds.get(text);
    if (id === undefined) {
      id = this.handleKeys.length + 1;
      this.handleKeys.push(key);
      this.handleIds.set(text, id);
    }
    return id;
  }

  keyOfHandle(id: number): Uint8Array {
    const key = this.handleKeys[id - 1];
    if (key === undefined) throw new Error(`unknown row handle ${id}`);
    return key;
  }
}
