import type { Logger } from 'pino';
import { encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { type Id, idKey } from '../store/id.ts';
import type { Mutation, TreeNode, Trees } from '../tree/index.ts';
import { type TableDef, type TableEntry, decodeTable, encodeTable } from './catalog.ts';
import { codecFor } from './rowcodec.ts';
import { type Connections, declareTable, runDdl, undeclareTable } from './ddl.ts';
import { ScanCache } from './scancache.ts';
import { Session } from './session.ts';
import { type Build, SQLITE_DONE, SQLITE_INTERRUPT, SQLITE_ROW, type SqlValue, cellsOf, exclusive, isSqliteError, queryAll, isWasmAbort, resetSqliteApi, sqliteApi, sqliteError, step } from './sqlite.ts';
import { type Statement, parseStatements, snippet } from './statement.ts';
import { TableState } from './table.ts';
import { type Blocked, TreeModule } from './vtab.ts';

export type SqlResult = { columns: string[]; rows: SqlValue[][] } | { changes: number };

/** One client argument: statement text, and the values of its `?` parameters when it has any. */
export type SqlInput = string | { sql: string; params: SqlValue[] };

const STATEMENTS = 256;
/** sqlite3_limit ids, and the cap on one string or blob: the codec's own limit on a value. */
const LIMIT_LENGTH = 0;
const MAX_LENGTH = 64 * 1024 * 1024;
/**
 * Runs of a read-only statement on the synchronous build, each after warming the blocks the
 * previous one lacked, before it goes to the Asyncify build (a point lookup needs one).
 */
const SYNC_TRIES = 3;
/** Statement texts remembered as never synchronous (long ranges): they go straight to Asyncify. */
const SLOW_TEXTS = 1024;
/** Calls a remembered text runs on Asyncify before the synchronous build is tried again. */
const SLOW_RUNS = 64;
/** VM steps between looks at the clock while a statement runs. */
const PROGRESS_STEPS = 10_000;

export interface SqlEngineOptions {
  /** A statement running longer is interrupted (and its call fails): pure-WASM loops never yield. */
  statementTimeoutMs?: number;
}
const AUTH_OK = 0;
const AUTH_DENY = 1;
const READ_ACTIONS = new Set([20 /* READ */, 21 /* SELECT */, 31 /* FUNCTION */, 33 /* RECURSIVE */]);
const WRITE_ACTIONS = new Set([9 /* DELETE */, 18 /* INSERT */, 23 /* UPDATE */]);

/** Statements of one argument with their parameters: PARAMS binds one statement, not several. */
function bound(input: SqlInput): Array<[Statement, SqlValue[] | null]> {
  if (typeof input === 'string') return parseStatements(input).map((st) => [st, null]);
  const sts = parseStatements(input.sql);
  if (sts.length !== 1) throw new CrissError('SQL', `PARAMS binds one statement; its argument holds ${sts.length} (${snippet(input.sql)})`);
  return [[sts[0], input.params]];
}

function columnNames(c: Connections, stmt: number): string[] {
  let names = c.names.get(stmt);
  if (names === undefined) {
    names = c.api.column_names(stmt);
    c.names.set(stmt, names);
  }
  return names;
}

/** The statement prepared for `sql`, moved to the back of its cache (the least recently used goes first). */
function cached(cache: Map<string, number>, sql: string): number | undefined {
  const hit = cache.get(sql);
  if (hit !== undefined) {
    cache.delete(sql);
    cache.set(sql, hit);
  }
  return hit;
}

/**
 * SQL over trees: a database is a tree of tables (docs/format.md §14); SQLite plans and runs
 * each statement over virtual tables backed by the trees; writes collect in the session and
 * become one batch of tree writes when every statement of the call succeeded.
 */
export class SqlEngine {
  private readonly trees: Trees;
  private readonly logger: Logger;
  private readonly conns = new Map<Build, Connections>();
  /** Statement texts whose last read could not be synchronous, with the Asyncify runs left. */
  private readonly slow = new Map<string, number>();
  private syncRuns = 0;
  private syncRetries = 0;
  private asyncRuns = 0;
  private internalDepth = 0;
  private denied: string | null = null;
  private session: Session | null = null;
  private readonly scans = new ScanCache();
  /** Decoded catalogs of recent database roots: clients query the same root again and again. */
  private readonly catalogs = new Map<string, TableEntry[]>();

  private readonly timeoutMs: number;
  private deadline = Infinity;
  private calls = 0;
  private failed = 0;
  private statementsRun = 0;

  constructor(trees: Trees, logger: Logger, opts: SqlEngineOptions = {}) {
    this.trees = trees;
    this.logger = logger;
    this.timeoutMs = opts.statementTimeoutMs ?? 30_000;
  }

  private async open(build: Build): Promise<Connections> {
    const open = this.conns.get(build);
    if (open !== undefined) return open;
    const api = await sqliteApi(build);
    const main = await api.open_v2(':memory:');
    const schema = await api.open_v2(':memory:');
    const module = new TreeModule(api, build === 'async');
    api.create_module(main, 'crisscross', module);
    api.set_authorizer(main, (_u: unknown, code: number, a: string | null) => this.authorize(code, a), null);
    api.progress_handler(main, PROGRESS_STEPS, () => (performance.now() > this.deadline ? 1 : 0), null);
    for (const db of [main, schema]) api.limit(db, LIMIT_LENGTH, MAX_LENGTH);
    const conn: Connections = {
      api, cells: cellsOf(api), main, schema, module, loaded: new Map(), statements: { read: new Map(), write: new Map() }, names: new Map(),
      internal: async <T>(f: () => Promise<T>): Promise<T> => {
        this.internalDepth++;
        try {
          return await f();
        } finally {
          this.internalDepth--;
        }
      },
    };
    this.conns.set(build, conn);
    return conn;
  }

  /** Client statements may read tables, and write them only through SQL, never the schema. */
  private authorize(code: number, table: string | null): number {
    if (this.internalDepth > 0 || READ_ACTIONS.has(code)) return AUTH_OK;
    if (WRITE_ACTIONS.has(code) && table !== null && !table.startsWith('sqlite_')) {
      if (this.session?.writable === true) return AUTH_OK;
      this.denied = 'SQLREAD runs read-only statements: use SQL to change rows';
      return AUTH_DENY;
    }
    this.denied = 'statement not supported over trees (only SELECT, INSERT, UPDATE, DELETE and table/index DDL are)';
    return AUTH_DENY;
  }

  /** A failed call may have left DDL applied to the connections: start from fresh ones. */
  private async discard(): Promise<void> {
    const c = this.conns.get('async');
    this.conns.delete('async');
    if (c === undefined) return;
    for (const stmt of [...c.statements.read.values(), ...c.statements.write.values()]) await c.api.finalize(stmt);
    await c.api.close(c.main);
    await c.api.close(c.schema);
  }

  /** The INFO section: what SQL the node has been doing. */
  info(): Array<[string, number]> {
    return [
      ['sql_calls', this.calls],
      ['sql_calls_failed', this.failed],
      ['sql_statements', this.statementsRun],
      ['sql_prepared_statements', [...this.conns.values()].reduce((n, c) => n + c.statements.read.size + c.statements.write.size, 0)],
      ['sql_sync_statements', this.syncRuns],
      ['sql_sync_retries', this.syncRetries],
      ['sql_async_statements', this.asyncRuns],
      ['sql_scan_cache_entries', this.scans.entries],
    ];
  }

  /**
   * `opts.trees` reads the database through other trees than the engine's (REMOTE's, whose
   * blocks come from peers); writes always go to the engine's own.
   */
  async run(root: TreeNode, sqls: SqlInput[], opts: { write: boolean; ttl: number; trees?: Trees }): Promise<{ root: Id; results: SqlResult[] }> {
    this.calls++;
    return exclusive(async () => {
      const session = new Session(opts.trees ?? this.trees, this.scans, opts.write);
      let ddl = false;
      try {
        const defs = await this.load(session, root);
        this.session = session;
        const declared = new Map<Build, Connections>();
        const conn = async (build: Build): Promise<Connections> => {
          let c = declared.get(build);
          if (c === undefined) {
            c = await this.open(build);
            await this.declare(c, defs);
            c.module.session = session;
            declared.set(build, c);
          }
          return c;
        };
        // DDL changes what the connection declares: it must be the one of every statement after.
        if (opts.write) await conn('async');
        const statements = sqls.flatMap(bound);
        const results: SqlResult[] = [];
        const ready = (build: Build): Connections | undefined => declared.get(build);
        for (let i = 0; i < statements.length; i++) {
          const [st, params] = statements[i];
          try {
            ddl ||= st.kind === 'ddl';
            this.statementsRun++;
            const r = this.statement(conn, ready, session, st, params);
            results.push(r instanceof Promise ? await r : r);
          } catch (e) {
            throw this.named(e, i, st);
          }
        }
        const next = opts.write ? await this.commit(session, root, opts.ttl) : root.id;
        return { root: next, results };
      } catch (e) {
        this.failed++;
        if (isWasmAbort(e) || (e instanceof CrissError && isWasmAbort(e.cause))) {
          // An instance aborted (out of memory, say): later calls get new ones.
          this.logger.error({ err: e }, 'SQLite WebAssembly instance aborted; starting a new one');
          for (const build of this.conns.keys()) resetSqliteApi(build);
          this.conns.clear();
        } else if (ddl) await this.discard();
        throw e;
      } finally {
        for (const c of this.conns.values()) c.module.session = null;
        this.session = null;
      }
    });
  }

  /**
   * A read-only statement runs on the synchronous build while its blocks are cached: a read that
   * would wait fails it, the engine reads those blocks and runs it again (read-only, so from
   * scratch is safe), and after SYNC_TRIES, or when the read can never be synchronous, the
   * Asyncify build runs it. Writes and DDL always run on the Asyncify build. A statement already
   * prepared on a declared synchronous connection runs without awaiting anything.
   */
  private statement(conn: (build: Build) => Promise<Connections>, ready: (build: Build) => Connections | undefined, session: Session, st: Statement, params: SqlValue[] | null): SqlResult | Promise<SqlResult> {
    if (session.writable || this.slow.has(st.sql)) return this.onAsync(conn, session, st, params);
    const fast = ready('sync');
    if (fast === undefined) return this.read(conn, session, st, params, null);
    fast.module.takeBlocked();
    try {
      const result = this.readSync(fast, session, st, params);
      if (result === null) return this.read(conn, session, st, params, null);
      this.syncRuns++;
      return result;
    } catch (e) {
      const blocked = fast.module.takeBlocked();
      if (blocked === null) throw e;
      return this.read(conn, session, st, params, blocked);
    }
  }

  private async onAsync(conn: (build: Build) => Promise<Connections>, session: Session, st: Statement, params: SqlValue[] | null): Promise<SqlResult> {
    const slow = this.slow.get(st.sql);
    if (slow !== undefined) {
      if (slow <= 1) this.slow.delete(st.sql);
      else this.slow.set(st.sql, slow - 1);
    }
    this.asyncRuns++;
    return this.exec(await conn('async'), session, st, params);
  }

  /** Runs on the synchronous build, each after warming what the last one lacked (`first`: the run that already failed so). */
  private async read(conn: (build: Build) => Promise<Connections>, session: Session, st: Statement, params: SqlValue[] | null, first: Blocked | null): Promise<SqlResult> {
    const fast = await conn('sync');
    let blocked = first;
    for (let tries = 1; ; tries++) {
      if (blocked === null) {
        fast.module.takeBlocked();
        try {
          const result = await this.exec(fast, session, st, params);
          this.syncRuns++;
          return result;
        } catch (e) {
          blocked = fast.module.takeBlocked();
          if (blocked === null) throw e;
        }
      }
      session.error = null;
      if (!(await blocked.warm)) {
        if (this.slow.size >= SLOW_TEXTS) this.slow.clear();
        this.slow.set(st.sql, SLOW_RUNS);
        break;
      }
      if (tries >= SYNC_TRIES) break;
      this.syncRetries++;
      blocked = null;
    }
    this.asyncRuns++;
    return this.exec(await conn('async'), session, st, params);
  }

  /**
   * `exec` of a query prepared before on the synchronous build, without a promise on the way
   * (a batch of lookups is mostly such statements); null when it is not prepared there yet.
   */
  private readSync(c: Connections, session: Session, st: Statement, params: SqlValue[] | null): SqlResult | null {
    if (st.kind !== 'query') return null;
    const stmt = cached(c.statements.read, st.sql);
    if (stmt === undefined) return null;
    this.begin(session, st, []);
    const cells = c.cells;
    try {
      cells.bind(stmt, params);
      const n = cells.columnCount(stmt);
      const rows: SqlValue[][] = [];
      for (;;) {
        const rc = cells.step(stmt);
        if (rc === SQLITE_DONE) break;
        if (rc !== SQLITE_ROW) throw sqliteError(c.api, c.main, stmt, rc);
        const row = new Array<SqlValue>(n);
        for (let i = 0; i < n; i++) row[i] = cells.column(stmt, i);
        rows.push(row);
      }
      return n > 0 ? { columns: columnNames(c, stmt), rows } : { changes: c.api.changes(c.main) };
    } catch (e) {
      throw this.interrupted(e);
    } finally {
      cells.reset(stmt);
      this.end(session);
    }
  }

  /** What a run sets before its first step: the virtual tables and the authorizer read it. */
  private begin(session: Session, st: Extract<Statement, { kind: 'query' }>, defaults: SqlValue[]): void {
    session.insert = st.insert;
    session.defaults = defaults;
    session.error = null;
    this.denied = null;
    this.deadline = performance.now() + this.timeoutMs;
  }

  private end(session: Session): void {
    this.deadline = Infinity;
    session.insert = null;
  }

  /** SQLite's interrupt (the progress handler past the deadline) as our error; any other error as it is. */
  private interrupted(e: unknown): unknown {
    return isSqliteError(e) && e.code === SQLITE_INTERRUPT ? new CrissError('SQL', `interrupted after ${this.timeoutMs} ms`) : e;
  }

  /** Opens every table of the database; the definitions by lower-case name. */
  private async load(session: Session, root: TreeNode): Promise<Map<string, TableDef>> {
    const key = idKey(root.id);
    let catalog = this.catalogs.get(key);
    if (catalog === undefined) {
      catalog = [];
      for await (const e of session.trees.range(root)) catalog.push(decodeTable(e.key, e.val));
      if (this.catalogs.size >= 64) this.catalogs.delete(this.catalogs.keys().next().value as string);
      this.catalogs.set(key, catalog);
    }
    const defs = new Map<string, TableDef>();
    const opening: Array<Promise<void>> = [];
    for (const entry of catalog) {
      const k = entry.def.name.toLowerCase();
      defs.set(k, entry.def);
      opening.push(TableState.open(session, entry.def, entry.rows, entry.indexRoots).then((t) => void session.tables.set(k, t)));
    }
    await Promise.all(opening);
    return defs;
  }

  /** Makes both connections of `c` declare exactly the tables `defs`. */
  private async declare(c: Connections, defs: Map<string, TableDef>): Promise<void> {
    for (const [k, def] of c.loaded) {
      const want = defs.get(k);
      if (want === undefined || codecFor(want).fingerprint !== codecFor(def).fingerprint) {
        await undeclareTable(c, def.name);
        c.names.clear();
      }
    }
    for (const [k, def] of defs) if (!c.loaded.has(k)) await declareTable(c, def);
  }

  private async exec(c: Connections, session: Session, st: Statement, params: SqlValue[] | null): Promise<SqlResult> {
    if (st.kind === 'unsupported') throw new CrissError('SQL', st.why);
    if (st.kind === 'ddl') {
      if (params !== null) throw new CrissError('SQL', 'DDL takes no parameters');
      if (!session.writable) throw new CrissError('READONLY', 'SQLREAD runs read-only statements: use SQL to change the schema');
      await runDdl(c, session, st);
      c.names.clear();
      return { changes: 0 };
    }
    this.begin(session, st, st.insert === null ? [] : await this.defaults(c, session, st));
    const { api, main } = c;
    try {
      const stmt = await this.prepare(c, st.sql, session.writable);
      if (stmt === null) {
        if (params !== null) throw new CrissError('SQL', 'PARAMS given for an empty statement');
        return { changes: 0 };
      }
      try {
        // A cached statement keeps the bindings of its last use: a call without PARAMS gets NULLs, as from a fresh one.
        c.cells.bind(stmt, params);
        const n = c.cells.columnCount(stmt);
        const rows: SqlValue[][] = [];
        while ((await step(api, stmt)) === SQLITE_ROW) {
          const row = new Array<SqlValue>(n);
          for (let i = 0; i < n; i++) row[i] = c.cells.column(stmt, i);
          rows.push(row);
        }
        return n > 0 ? { columns: columnNames(c, stmt), rows } : { changes: api.changes(main) };
      } finally {
        // reset reports the statement's error again: the caller already has it from step.
        await api.reset(stmt).catch(() => undefined);
      }
    } catch (e) {
      throw this.interrupted(e);
    } finally {
      this.end(session);
    }
  }

  /**
   * A prepared statement, reused across calls: parsing and planning cost more than a point
   * lookup. Kept apart by access, since the authorizer judges a statement when it is prepared
   * (and again whenever SQLite re-prepares it after a schema change).
   */
  private async prepare(c: Connections, sql: string, writable: boolean): Promise<number | null> {
    const cache = writable ? c.statements.write : c.statements.read;
    const hit = cached(cache, sql);
    if (hit !== undefined) return hit;
    const str = c.api.str_new(c.main, sql);
    try {
      const prepared = await c.api.prepare_v2(c.main, c.api.str_value(str));
      if (prepared === null) return null;
      cache.set(sql, prepared.stmt);
      if (cache.size > STATEMENTS) {
        const [oldKey, old] = cache.entries().next().value as [string, number];
        cache.delete(oldKey);
        c.names.delete(old);
        await c.api.finalize(old);
      }
      return prepared.stmt;
    } finally {
      c.api.str_finish(str);
    }
  }

  /** DEFAULT values of the INSERT's target table, evaluated once for the statement. */
  private async defaults(c: Connections, session: Session, st: Extract<Statement, { kind: 'query' }>): Promise<SqlValue[]> {
    const t = st.insert === null ? undefined : session.tables.get(st.insert.table.toLowerCase());
    if (t === undefined || st.insert?.columns == null || t.def.columns.every((col) => col.dflt === null)) return [];
    const exprs = t.def.columns.map((col) => col.dflt ?? 'NULL').join(', ');
    return (await queryAll(c.api, c.schema, `SELECT ${exprs}`))[0];
  }

  /** An error reply that names the statement, with the cause the virtual table recorded. */
  private named(e: unknown, i: number, st: Statement): CrissError {
    const session = this.session;
    const cause = session?.error ?? e;
    let err: CrissError;
    if (cause instanceof CrissError) err = cause;
    else if (isSqliteError(cause) && this.denied !== null) err = new CrissError(this.denied.startsWith('SQLREAD') ? 'READONLY' : 'SQL', this.denied);
    else if (isSqliteError(cause)) err = new CrissError(cause.code === 19 ? 'CONSTRAINT' : 'SQL', cause.message);
    else {
      this.logger.error({ err: cause }, 'SQL statement failed unexpectedly');
      err = new CrissError('ERR', cause instanceof Error ? cause.message : String(cause));
    }
    return new CrissError(err.code, `statement ${i + 1} (${snippet(st.sql)}): ${err.message}`, { cause });
  }

  /** Writes the changed row and index trees, then the database tree that links them. */
  private async commit(session: Session, root: TreeNode, ttl: number): Promise<Id> {
    const muts: Mutation[] = [...session.dropped].map((name) => ({ key: encodeValue(name), val: null }));
    const writes = [...session.tables.values()].filter((t) => t.changed).map(async (t): Promise<Mutation> => {
      const write = (o: TableState['rows']): Promise<Id> | Id => (o.changed ? this.trees.write(o.base, o.mutations(), 0) : o.base.id);
      const [rows, ...indexRoots] = await Promise.all([t.rows, ...t.indexes].map(write));
      return { key: encodeValue(t.def.name), val: encodeTable({ def: t.def, rows, indexRoots }) };
    });
    muts.push(...(await Promise.all(writes)));
    return this.trees.write(root, muts, ttl);
  }
}
