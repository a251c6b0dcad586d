import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import * as SQLite from 'wa-sqlite';
import { Float } from '../codec/index.ts';
import { CrissError } from '../errors.ts';

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

/** A SQL value as the engine carries it: the codec's value model restricted to SQLite's types. */
export type SqlValue = null | number | bigint | Float | string | Uint8Array;

export const SQLITE_OK = 0;
export const SQLITE_ERROR = 1;
export const SQLITE_INTERRUPT = 9;
export const SQLITE_CONSTRAINT = 19;
export const SQLITE_ROW = 100;
export const SQLITE_DONE = 101;

const INTEGER = 1;
const FLOAT = 2;
const TEXT = 3;
const BLOB = 4;

export type Build = 'async' | 'sync';

const instances = new Map<Build, Promise<Api>>();
/** The synchronous build's own sqlite3_step, by its API: wa-sqlite's wrapper is async for both builds. */
const rawSteps = new WeakMap<Api, (stmt: number) => number>();
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
      const module = (await factory({ wasmBinary, locateFile: (f: string) => f })) as { _sqlite3_step: (stmt: number) => number };
      const api = SQLite.Factory(module);
      if (build === 'sync') rawSteps.set(api, (stmt) => module._sqlite3_step(stmt));
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

function real(d: number): number | Float {
  return Number.isInteger(d) ? new Float(d) : d;
}

/**
 * wa-sqlite's own conversion yields a number, without a BigInt on the way, for every integer
 * from -2^53 to 2^53 - 1; -2^53 is no safe integer, and a number that is none is a float to the
 * codec (docs/format.md §2).
 */
function integer(n: number | bigint): number | bigint {
  return typeof n === 'number' && !Number.isSafeInteger(n) ? BigInt(n) : n;
}

/** An argument SQLite handed to a callback (`sqlite3_value*`). */
export function readValue(api: Api, p: number): SqlValue {
  switch (api.value_type(p)) {
    case INTEGER:
      return integer(api.value(p) as number | bigint);
    case FLOAT:
      return real(api.value_double(p));
    case TEXT:
      return api.value_text(p);
    case BLOB:
      return api.value_blob(p).slice();
    default:
      return null;
  }
}

/** A column of the current row of a statement. */
export function readColumn(api: Api, stmt: number, i: number): SqlValue {
  switch (api.column_type(stmt, i)) {
    case INTEGER:
      return integer(api.column(stmt, i) as number | bigint);
    case FLOAT:
      return real(api.column_double(stmt, i));
    case TEXT:
      return api.column_text(stmt, i);
    case BLOB:
      return api.column_blob(stmt, i).slice();
    default:
      return null;
  }
}

/** Sets a virtual-table column (or function) result; wa-sqlite's own `result` turns 2.0 into 2. */
export function resultValue(api: Api, ctx: number, v: SqlValue): void {
  if (v === null) api.result_null(ctx);
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) api.result_double(ctx, v);
    else if ((v | 0) === v) api.result_int(ctx, v);
    else api.result_int64(ctx, BigInt(v));
  } else if (typeof v === 'bigint') api.result_int64(ctx, v);
  else if (v instanceof Float) api.result_double(ctx, v.value);
  else if (typeof v === 'string') api.result_text(ctx, v);
  else api.result_blob(ctx, v);
}

/**
 * Binds a statement's `?` parameters; the count must match, since SQLite would bind NULL to the
 * rest. `null` (no PARAMS) binds NULL to every parameter the statement has.
 */
export function bindAll(api: Api, stmt: number, given: SqlValue[] | null): void {
  const want = api.bind_parameter_count(stmt);
  if (given === null && want === 0) return;
  const params = given ?? Array.from({ length: want }, () => null);
  if (want !== params.length) throw new CrissError('SQL', `the statement has ${want} parameter${want === 1 ? '' : 's'}, PARAMS gave ${params.length}`);
  params.forEach((v, i) => {
    const at = i + 1;
    if (v === null) api.bind_null(stmt, at);
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) api.bind_double(stmt, at, v);
      else if ((v | 0) === v) api.bind_int(stmt, at, v);
      else api.bind_int64(stmt, at, BigInt(v));
    } else if (typeof v === 'bigint') api.bind_int64(stmt, at, v);
    else if (v instanceof Float) api.bind_double(stmt, at, v.value);
    else if (typeof v === 'string') api.bind_text(stmt, at, v);
    else api.bind_blob(stmt, at, v);
  });
}

/**
 * Steps a statement: SQLITE_ROW or SQLITE_DONE, else throws SQLite's error. On the synchronous
 * build without the wrapper's promise and generic call (two per point lookup); reset then
 * reports the step's error with its message, as the wrapper would.
 */
export async function step(api: Api, stmt: number): Promise<number> {
  const raw = rawSteps.get(api);
  if (raw === undefined) return api.step(stmt);
  const rc = raw(stmt);
  if (rc === SQLITE_ROW || rc === SQLITE_DONE) return rc;
  await api.reset(stmt);
  throw new SQLite.SQLiteError('sqlite3_step', rc);
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
          rows.push(Array.from({ length: n }, (_, i) => readColumn(api, stmt, i)));
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
