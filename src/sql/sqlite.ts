import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import * as SQLite from 'wa-sqlite';
import { Cells, type SqlValue, type SqliteModule } from './cells.ts';

/**
 * SQLite 3.44 compiled to WebAssembly (npm `wa-sqlite` 1.0.0, the last build that still exports
 * the virtual-table API), in its two builds. The Asyncify build lets a virtual table await a
 * block read in the middle of a query, at a cost on every instruction and every crossing; the
 * synchronous build runs read-only statements whose blocks are cached (src/sql/vtab.ts refuses a
 * read that would wait, and the engine warms the cache and tries again, or falls back to the
 * Asyncify build). Asyncify can suspend one call at a time per instance, and the engine's state
 * is shared, so every use of either instance goes through `exclusive`.
 */
export type Api = SQLiteAPI;

export type { SqlValue } from './cells.ts';

export const SQLITE_OK = 0;
export const SQLITE_ERROR = 1;
export const SQLITE_INTERRUPT = 9;
export const SQLITE_CONSTRAINT = 19;
export const SQLITE_ROW = 100;
export const SQLITE_DONE = 101;

export type Build = 'async' | 'sync';

const instances = new Map<Build, Promise<Api>>();
const cells = new WeakMap<Api, Cells>();
const syncApis = new WeakSet<Api>();
let queue: Promise<unknown> = Promise.resolve();

/**
 * The glue's xOpen (and xConnect) forgets closed cursors lazily, walking every cursor address
 * ever closed on each open without clearing the set: with many subquery cursors that walk was
 * 40 % of select1's time. Clearing the set after the walk changes nothing else. The glue is
 * loaded from its text with that one edit (and never imports anything, so a data: URL serves).
 */
const LAZY_FORGET = /for\(const ([a-zA-Z]) of ([a-zA-Z])\)([a-zA-Z])\.delete\(\1\)\}/g;

async function asyncGlue(): Promise<(config: object) => Promise<unknown>> {
  const text = await readFile(new URL(import.meta.resolve('wa-sqlite/dist/wa-sqlite-async.mjs')), 'utf8');
  let edits = 0;
  const patched = text.replace(LAZY_FORGET, (_m, v: string, set: string, map: string) => {
    edits++;
    return `for(const ${v} of ${set})${map}.delete(${v});${set}.clear()}`;
  });
  if (edits !== 3) throw new Error(`unexpected wa-sqlite build: ${edits} lazy-forget loops instead of 3`);
  const mod = (await import(`data:text/javascript;base64,${Buffer.from(patched).toString('base64')}`)) as { default: (config: object) => Promise<unknown> };
  return mod.default;
}

/** The synchronous build's glue forgets closed cursors at once: it loads as shipped. */
async function syncGlue(): Promise<(config: object) => Promise<unknown>> {
  return ((await import('wa-sqlite/dist/wa-sqlite.mjs')) as { default: (config: object) => Promise<unknown> }).default;
}

export function sqliteApi(build: Build): Promise<Api> {
  let api = instances.get(build);
  if (api === undefined) {
    api = (async () => {
      const file = build === 'async' ? 'wa-sqlite-async' : 'wa-sqlite';
      const wasmBinary = await readFile(new URL(import.meta.resolve(`wa-sqlite/dist/${file}.wasm`)));
      const factory = await (build === 'async' ? asyncGlue() : syncGlue());
      const module = (await factory({ wasmBinary, locateFile: (f: string) => f })) as SqliteModule;
      const api = SQLite.Factory(module);
      cells.set(api, new Cells(module));
      if (build === 'sync') syncApis.add(api);
      return api;
    })();
    instances.set(build, api);
  }
  return api;
}

/** Forgets an aborted instance; the next sqliteApi() instantiates a fresh one. */
export function resetSqliteApi(build: Build): void {
  instances.delete(build);
}

/** Runs `fn` when every earlier caller is done with the WebAssembly instance. */
export function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

/** Values in and out of the instance behind `api`. */
export function cellsOf(api: Api): Cells {
  return cells.get(api) as Cells;
}

/**
 * Steps a statement: SQLITE_ROW or SQLITE_DONE, else throws SQLite's error. The synchronous
 * build steps through the export (wa-sqlite's wrapper is an async function and a generic call
 * there too); reset then reports the step's error with its message, as the wrapper would.
 */
export async function step(api: Api, stmt: number): Promise<number> {
  if (!syncApis.has(api)) return api.step(stmt);
  const rc = cellsOf(api).step(stmt);
  if (rc === SQLITE_ROW || rc === SQLITE_DONE) return rc;
  await api.reset(stmt);
  throw new SQLite.SQLiteError('sqlite3_step', rc);
}

/** The error a failed step of `stmt` reports, after resetting it (as wa-sqlite's wrapper would). */
export function sqliteError(api: Api, db: number, stmt: number, rc: number): Error {
  cellsOf(api).reset(stmt);
  return new SQLite.SQLiteError(cellsOf(api).errmsg(db), rc);
}

/** WebAssembly.RuntimeError (the lib settings here do not declare WebAssembly's types). */
export function isWasmAbort(e: unknown): boolean {
  return e instanceof Error && e.constructor.name === 'RuntimeError';
}

export function isSqliteError(e: unknown): e is Error & { code: number } {
  return e instanceof SQLite.SQLiteError;
}

/** Prepares and steps one statement at a time, each result set in full (schema and catalog use). */
export async function queryAll(api: Api, db: number, sql: string): Promise<SqlValue[][]> {
  const rows: SqlValue[][] = [];
  const str = api.str_new(db, sql);
  try {
    let prepared = await api.prepare_v2(db, api.str_value(str));
    while (prepared !== null) {
      const stmt = prepared.stmt;
      try {
        while ((await api.step(stmt)) === SQLITE_ROW) {
          const n = api.column_count(stmt);
          rows.push(Array.from({ length: n }, (_, i) => cellsOf(api).column(stmt, i)));
        }
      } finally {
        await api.finalize(stmt);
      }
      prepared = await api.prepare_v2(db, prepared.sql);
    }
  } finally {
    api.str_finish(str);
  }
  return rows;
}
