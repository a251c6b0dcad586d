import { decodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { Entry } from '../tree/index.ts';
import { type TableDef, vtabSchemaSql } from './catalog.ts';
import { SYNC_RANGE } from './overlay.ts';
import { bestIndex, parsePlan, access } from './plan.ts';
import type { Session } from './session.ts';
import type { Cells } from './cells.ts';
import { type Api, SQLITE_CONSTRAINT, SQLITE_ERROR, SQLITE_OK, type SqlValue, cellsOf } from './sqlite.ts';
import type { TableState } from './table.ts';

/** Decoded rows of cached entries: a small table scanned once per outer row decodes once. */
const decoded = new WeakMap<Entry, { codec: string; row: SqlValue[] }>();

function decodedRow(t: TableState, e: Entry): SqlValue[] {
  const d = decoded.get(e);
  if (d !== undefined && d.codec === t.codec.fingerprint) return d.row;
  const row = t.codec.rowOf(e.key, e.val);
  decoded.set(e, { codec: t.codec.fingerprint, row });
  return row;
}

/** Rows fetched per await: each await suspends and resumes the whole WebAssembly stack. */
const BATCH = 256;

interface Cursor {
  table: string;
  rows: Array<{ key: Uint8Array; row: SqlValue[]; copy: number }>;
  i: number;
  /** Remaining entries of the row tree (path 0 or a scan) or of an index (path > 0). */
  source: AsyncGenerator<Entry> | null;
  index: number;
  /** The plan's colUsed, or -1 where every column must be decoded (the Asyncify build's writes). */
  cols: number;
}

type Rowid = DataView;

/**
 * Why a statement on the synchronous build stopped: it needed a block that is not cached.
 * `warm` reads it (and what the rest of that lookup needs) and settles true when running the
 * statement again may succeed, false when the read can never be synchronous (a long range).
 */
export interface Blocked {
  warm: Promise<boolean>;
}

async function drain(src: AsyncGenerator<Entry>, limit: number): Promise<boolean> {
  let n = 0;
  for await (const _ of src) if (++n > limit) return false;
  return true;
}

/**
 * The SQLite module behind every table: rows come from the session's trees (with the call's
 * pending writes), constraints are pushed down to key and index ranges, and writes go to the
 * session, never straight to the store.
 */
export class TreeModule {
  private readonly api: Api;
  private readonly cells: Cells;
  session: Session | null = null;
  /** Schemas to declare, read by xCreate when the engine creates a table's virtual table. */
  readonly declared = new Map<string, TableDef>();
  private readonly vtabs = new Map<number, string>();
  private readonly cursors = new Map<number, Cursor>();
  /** Set on the synchronous build when a callback refused to wait for a read. */
  private blocked: Blocked | null = null;
  /** False on the synchronous build: a callback may not suspend SQLite. */
  private readonly suspends: boolean;
  /** Set by wa-sqlite's create_module on the Asyncify build. */
  handleAsync: (f: () => Promise<number>) => number = () => SQLITE_ERROR;
  /**
   * Asyncify resumes a suspended callback by calling it again from the top, and no SQLite call
   * may run until it is back in handleAsync: a callback that finds this set goes there first.
   */
  private resuming = false;

  constructor(api: Api, suspends: boolean) {
    this.api = api;
    this.cells = cellsOf(api);
    this.suspends = suspends;
  }

  private current(): Session {
    if (this.session === null) throw new CrissError('ERR', 'SQL table used outside a call');
    return this.session;
  }

  private fail(e: unknown): number {
    if (this.session !== null) this.session.error ??= e;
    return e instanceof CrissError && e.code === 'CONSTRAINT' ? SQLITE_CONSTRAINT : SQLITE_ERROR;
  }

  /** Suspends SQLite until `f` settles; a thrown error becomes a return code SQLite understands. */
  private suspend(f: () => Promise<void>): number {
    return this.handleAsync(async () => {
      let rc = SQLITE_OK;
      try {
        await f();
      } catch (e) {
        rc = this.fail(e);
      }
      this.resuming = true;
      return rc;
    });
  }

  /**
   * Suspends with `f` on the Asyncify build; on the synchronous one, fails the statement and
   * leaves `warm` (a read of what `f` needs) for the engine.
   */
  private wait(f: () => Promise<void>, warm: () => Promise<boolean>): number {
    return this.suspends ? this.suspend(f) : this.block(warm);
  }

  private block(warm: () => Promise<boolean>): number {
    this.blocked ??= { warm: warm().catch(() => false) };
    return SQLITE_ERROR;
  }

  /** Why the last statement stopped for a read, if it did; clears it. */
  takeBlocked(): Blocked | null {
    const b = this.blocked;
    this.blocked = null;
    return b;
  }

  /** The result of the suspended call, when this entry is Asyncify's replay of it. */
  private resumed(): number | undefined {
    if (!this.resuming) return undefined;
    this.resuming = false;
    return this.handleAsync(async () => SQLITE_ERROR);
  }

  xCreate(db: number, _app: unknown, argv: string[], pVTab: number): number {
    return this.xConnect(db, _app, argv, pVTab);
  }

  xConnect(db: number, _app: unknown, argv: string[], pVTab: number): number {
    const def = this.declared.get(argv[2].toLowerCase());
    if (def === undefined) return SQLITE_ERROR;
    this.api.declare_vtab(db, vtabSchemaSql(def));
    this.vtabs.set(pVTab, argv[2]);
    return SQLITE_OK;
  }

  xDisconnect(pVTab: number): number {
    this.vtabs.delete(pVTab);
    return SQLITE_OK;
  }

  xDestroy(pVTab: number): number {
    return this.xDisconnect(pVTab);
  }

  private tableOf(pVTab: number): TableState {
    return this.current().table(this.vtabs.get(pVTab) as string);
  }

  xBestIndex(pVTab: number, info: Parameters<typeof bestIndex>[2]): number {
    try {
      const t = this.tableOf(pVTab);
      bestIndex(t.codec, t.rows.base.count, info);
      return SQLITE_OK;
    } catch (e) {
      return this.fail(e);
    }
  }

  xOpen(pVTab: number, pCursor: number): number {
    this.cursors.set(pCursor, { table: this.vtabs.get(pVTab) as string, rows: [], i: 0, source: null, index: -1, cols: -1 });
    return SQLITE_OK;
  }

  xClose(pCursor: number): number {
    void this.cursors.get(pCursor)?.source?.return(undefined);
    this.cursors.delete(pCursor);
    return SQLITE_OK;
  }

  private push(c: Cursor, t: TableState, key: Uint8Array, val: Uint8Array, entry?: Entry): void {
    const row = entry === undefined ? t.codec.rowOfUsed(key, val, c.cols) : decodedRow(t, entry);
    const copies = t.codec.counted ? Number(decodeValue(val)) : 1;
    for (let copy = 0; copy < copies; copy++) c.rows.push({ key, row, copy });
  }

  private async fill(c: Cursor): Promise<void> {
    const t = this.current().table(c.table);
    const src = c.source as AsyncGenerator<Entry>;
    while (c.rows.length < BATCH) {
      const next = await src.next();
      if (next.done === true) {
        c.source = null;
        return;
      }
      const { key, val } = next.value;
      if (c.index < 0) this.push(c, t, key, val, next.value);
      else {
        const rowKey = t.codec.rowKeyOfIndexKey(c.index, key);
        const v = await t.rows.get(rowKey);
        if (v !== undefined) this.push(c, t, rowKey, v);
      }
    }
  }

  xFilter(pCursor: number, _idxNum: number, idxStr: string | null, values: ArrayLike<number>): number {
    const replay = this.resumed();
    if (replay !== undefined) return replay;
    try {
      const c = this.cursors.get(pCursor) as Cursor;
      const t = this.current().table(c.table);
      const plan = parsePlan(idxStr);
      const args = new Array<SqlValue>(values.length);
      for (let i = 0; i < values.length; i++) args[i] = this.cells.value(values[i]);
      void c.source?.return(undefined);
      c.rows = [];
      c.i = 0;
      c.source = null;
      c.index = plan.path > 0 ? plan.path - 1 : -1;
      // UPDATE and DELETE hand every column back to xUpdate: only read-only statements prune.
      c.cols = this.suspends ? -1 : plan.cols;
      const a = access(t.codec, plan, args);
      if (a.kind === 'none') return SQLITE_OK;
      if (a.kind === 'point') {
        const v = t.rows.get(a.key);
        if (!(v instanceof Promise)) {
          if (v !== undefined) this.push(c, t, a.key, v);
          return SQLITE_OK;
        }
        return this.wait(async () => {
          const got = await v;
          if (got !== undefined) this.push(c, t, a.key, got);
        }, async () => (await v, true));
      }
      const tree = c.index < 0 ? t.rows : t.indexes[c.index];
      const run = a.prefix === undefined ? undefined : tree.prefixSync(a.prefix.width, a.prefix.bytes);
      const opts = run === undefined ? a.bounds() : {};
      const cached = run ?? tree.rangeSync(opts);
      if (cached === undefined) {
        if (this.suspends) {
          c.source = tree.range(opts);
          return this.suspend(() => this.fill(c));
        }
        // A bounded range is cached by reading it; a whole small tree enters the scan cache.
        const bounded = opts.min !== undefined || opts.max !== undefined;
        const small = tree.base.count <= this.current().scans.maxTree;
        return this.block(async () => (bounded || small) && drain(tree.range(opts), bounded ? SYNC_RANGE : Infinity));
      }
      if (c.index < 0) {
        for (const e of cached) this.push(c, t, e.key, e.val, e);
        return SQLITE_OK;
      }
      // Warm rows go straight to the cursor; from the first that needs a read on, the rest wait.
      let i = 0;
      let miss: Promise<Uint8Array | undefined> | undefined;
      for (; i < cached.length; i++) {
        const key = t.codec.rowKeyOfIndexKey(c.index, cached[i].key);
        const v = t.rows.get(key);
        if (v instanceof Promise) {
          miss = v;
          break;
        }
        if (v !== undefined) this.push(c, t, key, v);
      }
      if (miss === undefined) return SQLITE_OK;
      const keys = cached.slice(i).map((e) => t.codec.rowKeyOfIndexKey(c.index, e.key));
      const vals = keys.map((k, j) => (j === 0 ? miss : t.rows.get(k)));
      const take = (got: Array<Uint8Array | undefined>): void => got.forEach((v, j) => v !== undefined && this.push(c, t, keys[j], v));
      return this.wait(async () => take(await Promise.all(vals)), async () => (await Promise.all(vals), true));
    } catch (e) {
      return this.fail(e);
    }
  }

  xNext(pCursor: number): number {
    const replay = this.resumed();
    if (replay !== undefined) return replay;
    const c = this.cursors.get(pCursor) as Cursor;
    c.i++;
    if (c.i < c.rows.length || c.source === null) return SQLITE_OK;
    c.rows = [];
    c.i = 0;
    return this.suspend(() => this.fill(c));
  }

  xEof(pCursor: number): number {
    const c = this.cursors.get(pCursor) as Cursor;
    return c.i >= c.rows.length ? 1 : 0;
  }

  xColumn(pCursor: number, ctx: number, iCol: number): number {
    const c = this.cursors.get(pCursor) as Cursor;
    this.cells.result(ctx, c.rows[c.i].row[iCol]);
    return SQLITE_OK;
  }

  xRowid(pCursor: number, pRowid: Rowid): number {
    const c = this.cursors.get(pCursor) as Cursor;
    const r = c.rows[c.i];
    pRowid.setBigInt64(0, BigInt(this.current().handle(c.table, r.key, r.copy)), true);
    return SQLITE_OK;
  }

  xUpdate(pVTab: number, values: ArrayLike<number>): number {
    const replay = this.resumed();
    if (replay !== undefined) return replay;
    try {
      const s = this.current();
      const t = this.tableOf(pVTab);
      const vals = Array.from(values, (p) => this.cells.value(p));
      if (vals.length === 1) {
        const key = s.keyOfHandle(Number(vals[0]));
        return this.wait(() => t.delete(key), async () => false);
      }
      const row = vals.slice(2);
      if (vals[0] === null) {
        const ins = s.insert !== null && s.insert.table.toLowerCase() === t.def.name.toLowerCase() ? s.insert : null;
        if (ins?.columns != null) {
          const named = new Set(ins.columns.map((n) => n.toLowerCase()));
          t.def.columns.forEach((col, i) => {
            if (!named.has(col.name.toLowerCase())) row[i] = s.defaults[i] ?? null;
          });
        }
        return this.wait(async () => void (await t.insert(await t.prepare(row), ins?.conflict ?? 'ABORT')), async () => false);
      }
      const oldKey = s.keyOfHandle(Number(vals[0]));
      return this.wait(async () => t.update(oldKey, await t.prepare(row)), async () => false);
    } catch (e) {
      return this.fail(e);
    }
  }
}
