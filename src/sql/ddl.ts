import { Tuple, decodeValue, encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { TreeNode } from '../tree/index.ts';
import { affinityOf, applyAffinity } from './affinity.ts';
import { type TableDef, createIndexSql, createTableSql, fingerprint, introspect, quoteIdent, vtabSchemaSql } from './catalog.ts';
import { OverlayTree } from './overlay.ts';
import { RowCodec, normalize } from './rowcodec.ts';
import type { Session } from './session.ts';
import type { Cells } from './cells.ts';
import { type Api, type SqlValue, queryAll } from './sqlite.ts';
import type { Statement } from './statement.ts';
import { TableState } from './table.ts';
import type { TreeModule } from './vtab.ts';

/**
 * The engine's two SQLite connections. `schema` holds real, always empty tables and indexes:
 * SQLite runs every DDL statement there (so it validates it and reports errors as SQLite does)
 * and the catalog is read back from it. `main` holds one virtual table per table, over trees.
 */
export interface Connections {
  api: Api;
  cells: Cells;
  main: number;
  schema: number;
  module: TreeModule;
  /** What both connections currently declare, by lower-case table name. */
  loaded: Map<string, TableDef>;
  /**
   * Prepared client statements on `main` by text, apart for read-only calls and writing ones
   * (see SqlEngine.prepare); a map each, so the lookup hashes the client's own string.
   */
  statements: { read: Map<string, number>; write: Map<string, number> };
  /**
   * Result column names of prepared statements (each a call into WebAssembly per column),
   * cleared whenever `main` declares a table anew: a re-prepared statement may name them anew.
   */
  names: Map<number, string[]>;
  /** Runs engine-issued SQL on `main`, past the authorizer that guards client statements. */
  internal<T>(f: () => Promise<T>): Promise<T>;
}

export async function createVtab(c: Connections, def: TableDef): Promise<void> {
  c.module.declared.set(def.name.toLowerCase(), def);
  await c.internal(() => queryAll(c.api, c.main, `CREATE VIRTUAL TABLE ${quoteIdent(def.name)} USING crisscross`));
}

export async function dropVtab(c: Connections, name: string): Promise<void> {
  await c.internal(() => queryAll(c.api, c.main, `DROP TABLE IF EXISTS ${quoteIdent(name)}`));
  c.module.declared.delete(name.toLowerCase());
}

/** Declares a stored table in both connections, as it was when the tree was written. */
export async function declareTable(c: Connections, def: TableDef): Promise<void> {
  await queryAll(c.api, c.schema, createTableSql(def));
  for (const ix of def.indexes) if (ix.name !== null) await queryAll(c.api, c.schema, createIndexSql(def.name, ix));
  await createVtab(c, def);
  c.loaded.set(def.name.toLowerCase(), def);
}

export async function undeclareTable(c: Connections, name: string): Promise<void> {
  await queryAll(c.api, c.schema, `DROP TABLE IF EXISTS ${quoteIdent(name)}`);
  await dropVtab(c, name);
  c.loaded.delete(name.toLowerCase());
}

async function evalDefault(c: Connections, dflt: string): Promise<SqlValue> {
  return (await queryAll(c.api, c.schema, `SELECT ${dflt}`))[0][0];
}

async function isEmpty(rows: OverlayTree): Promise<boolean> {
  for await (const _ of rows.range({})) return false;
  return true;
}

/** Builds index `ix` of `codec` from every row, enforcing uniqueness as CREATE UNIQUE INDEX does. */
async function buildIndex(session: Session, empty: TreeNode, rows: OverlayTree, codec: RowCodec, ix: number): Promise<OverlayTree> {
  const out = new OverlayTree(session, empty);
  const unique = codec.def.indexes[ix].unique;
  const cols = codec.indexCols[ix];
  const seen = new Set<string>();
  const nil = encodeValue(null);
  for await (const e of rows.range({})) {
    const row = codec.rowOf(e.key, e.val);
    if (unique && !cols.some((c) => row[c] === null)) {
      const prefix = Buffer.from(encodeValue(new Tuple(cols.map((c) => normalize(row[c]))))).toString('latin1');
      const copies = codec.counted ? Number(decodeValue(e.val)) : 1;
      if (seen.has(prefix) || copies > 1) throw new CrissError('CONSTRAINT', `UNIQUE constraint failed: ${cols.map((c) => `${codec.def.name}.${codec.def.columns[c].name}`).join(', ')}`);
      seen.add(prefix);
    }
    out.set(codec.indexKey(ix, row), nil);
  }
  return out;
}

/** A table whose schema changed: ADD COLUMN, RENAME COLUMN, CREATE/DROP INDEX on it. */
async function alter(c: Connections, session: Session, empty: TreeNode, t: TableState, next: TableDef): Promise<void> {
  const old = t.def;
  let extra: SqlValue | undefined;
  if (next.columns.length === old.columns.length + 1) {
    const col = next.columns[next.columns.length - 1];
    extra = col.dflt === null ? null : applyAffinity(await evalDefault(c, col.dflt), affinityOf(col.type));
    if (extra === null && col.notNull && !(await isEmpty(t.rows))) throw new CrissError('SQL', 'Cannot add a NOT NULL column with default value NULL');
  } else if (next.columns.length !== old.columns.length) {
    throw new CrissError('SQL', 'this ALTER TABLE is not supported (ADD COLUMN, RENAME COLUMN and RENAME TO are)');
  }
  const codec = new RowCodec(next);
  // Rows are stored without trailing NULLs, so a NULL column added to a keyed table changes no
  // row; any other added value is written into every row, as if the table had always had it.
  const rewrite = extra !== undefined && (extra !== null || t.codec.counted);
  if (rewrite) {
    const all: Array<{ key: Uint8Array; val: Uint8Array }> = [];
    for await (const e of t.rows.range({})) all.push(e);
    for (const e of all) {
      const row = [...t.codec.rowOf(e.key, e.val), extra as SqlValue];
      if (t.codec.counted) {
        t.rows.set(e.key, null);
        t.rows.set(codec.keyOf(row), e.val);
      } else t.rows.set(e.key, codec.valueOf(row));
    }
  }
  const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  const indexes: OverlayTree[] = [];
  for (let j = 0; j < next.indexes.length; j++) {
    const want = next.indexes[j];
    const i = rewrite ? -1 : old.indexes.findIndex((o, k) => o.name === want.name && o.unique === want.unique && same(t.codec.indexCols[k], codec.indexCols[j]));
    indexes.push(i >= 0 ? t.indexes[i] : await buildIndex(session, empty, t.rows, codec, j));
  }
  t.def = next;
  t.codec = codec;
  t.indexes = indexes;
  t.defChanged = true;
}

/** Runs CREATE/DROP TABLE/INDEX or ALTER TABLE: SQLite on the schema connection, then the trees. */
export async function runDdl(c: Connections, session: Session, st: Extract<Statement, { kind: 'ddl' }>): Promise<void> {
  const before = new Map(c.loaded);
  await queryAll(c.api, c.schema, st.sql);
  const after = await introspect(c.api, c.schema);
  const empty = await session.trees.root(session.trees.emptyRoot);
  if (st.renameTable !== null) {
    const from = st.renameTable.from.toLowerCase();
    const to = [...after.keys()].find((k) => !before.has(k));
    const t = session.tables.get(from);
    if (to !== undefined && !after.has(from) && t !== undefined) {
      session.tables.delete(from);
      session.dropped.add(t.def.name);
      session.tables.set(to, t);
      before.delete(from);
      before.set(to, t.def);
      await dropVtab(c, t.def.name);
      await createVtab(c, after.get(to) as TableDef);
    }
  }
  for (const [k, def] of before) {
    if (after.has(k)) continue;
    const t = session.tables.get(k);
    if (t !== undefined) session.dropped.add(t.def.name);
    session.tables.delete(k);
    await dropVtab(c, def.name);
  }
  for (const [k, def] of after) {
    const old = before.get(k);
    if (old === undefined) {
      const t = new TableState(def, new OverlayTree(session, empty), def.indexes.map(() => new OverlayTree(session, empty)));
      t.defChanged = true;
      session.tables.set(k, t);
      await createVtab(c, def);
    } else if (fingerprint(old) !== fingerprint(def)) {
      await alter(c, session, empty, session.tables.get(k) as TableState, def);
      if (vtabSchemaSql(old) !== vtabSchemaSql(def)) {
        await dropVtab(c, old.name);
        await createVtab(c, def);
      }
    }
  }
  c.loaded.clear();
  for (const [k, def] of after) c.loaded.set(k, def);
}
