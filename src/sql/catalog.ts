import { Link, type Value, compareEncoded, decodeValue, encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { type Affinity, affinityOf } from './affinity.ts';
import { type Api, queryAll } from './sqlite.ts';

/** A table's schema, in the canonical form stored in the database tree (docs/format.md §14). */
export interface Column {
  name: string;
  /** The declared type as written (`VARCHAR(40)`), from which the affinity follows. */
  type: string;
  notNull: boolean;
  /** The DEFAULT expression's SQL text, or null. */
  dflt: string | null;
}

export interface IndexDef {
  /** null for a table's own UNIQUE constraint, which has no name SQLite keeps stable. */
  name: string | null;
  columns: string[];
  unique: boolean;
}

export interface TableDef {
  name: string;
  columns: Column[];
  /** Primary key columns in key order; empty when the table declares none. */
  pk: string[];
  /** Explicit indexes and UNIQUE constraints, in canonical order (see sortIndexes). */
  indexes: IndexDef[];
}

export const quoteIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;

export function affinities(def: TableDef): Affinity[] {
  return def.columns.map((c) => affinityOf(c.type));
}

export function columnIndex(def: TableDef, name: string): number {
  const lower = name.toLowerCase();
  const i = def.columns.findIndex((c) => c.name.toLowerCase() === lower);
  if (i < 0) throw new CrissError('SQL', `no column ${name} in table ${def.name}`);
  return i;
}

/** `INTEGER PRIMARY KEY` is SQLite's rowid alias: a NULL there becomes max + 1. */
export function isRowidAlias(def: TableDef): boolean {
  return def.pk.length === 1 && def.columns[columnIndex(def, def.pk[0])].type.toUpperCase() === 'INTEGER';
}

function indexSortKey(ix: IndexDef): Uint8Array {
  return encodeValue([ix.name, ix.columns, ix.unique]);
}

export function sortIndexes(list: IndexDef[]): IndexDef[] {
  return [...list].sort((a, b) => compareEncoded(indexSortKey(a), indexSortKey(b)));
}

/** What SQLite sees: the declared schema of the real (empty) table in the schema connection. */
export function createTableSql(def: TableDef): string {
  const parts = def.columns.map((c) => {
    let s = `${quoteIdent(c.name)} ${c.type}`;
    if (c.notNull) s += ' NOT NULL';
    if (c.dflt !== null) s += ` DEFAULT ${c.dflt}`;
    return s;
  });
  if (def.pk.length > 0) parts.push(`PRIMARY KEY(${def.pk.map(quoteIdent).join(', ')})`);
  for (const ix of def.indexes) if (ix.name === null) parts.push(`UNIQUE(${ix.columns.map(quoteIdent).join(', ')})`);
  return `CREATE TABLE ${quoteIdent(def.name)}(${parts.join(', ')})`;
}

export function createIndexSql(table: string, ix: IndexDef): string {
  return `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(ix.name as string)} ON ${quoteIdent(table)}(${ix.columns.map(quoteIdent).join(', ')})`;
}

/** The column list a virtual table declares: names and types, so comparisons get affinity. */
export function vtabSchemaSql(def: TableDef): string {
  return `CREATE TABLE x(${def.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`;
}

/** A stable text form of a schema, to tell whether the engine's connections already match. */
export function fingerprint(def: TableDef): string {
  return JSON.stringify([def.name, def.columns, def.pk, def.indexes]);
}

/** Reads every table of the schema connection back, after SQLite itself ran the DDL. */
export async function introspect(api: Api, db: number): Promise<Map<string, TableDef>> {
  const out = new Map<string, TableDef>();
  const names = await queryAll(api, db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`);
  for (const [name] of names) {
    const t = name as string;
    const cols = await queryAll(api, db, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${sqlString(t)})`);
    const columns: Column[] = cols.map(([n, type, nn, d]) => ({ name: n as string, type: type as string, notNull: nn === 1, dflt: d as string | null }));
    const pk = cols.filter((c) => (c[4] as number) > 0).sort((a, b) => (a[4] as number) - (b[4] as number)).map((c) => c[0] as string);
    const indexes: IndexDef[] = [];
    for (const [ixName, unique, origin, partial] of await queryAll(api, db, `SELECT name, "unique", origin, partial FROM pragma_index_list(${sqlString(t)})`)) {
      if (origin === 'pk') continue;
      if (partial === 1) throw new CrissError('SQL', 'partial indexes (CREATE INDEX … WHERE) are not supported');
      const keyCols = await queryAll(api, db, `SELECT cid, name, coll FROM pragma_index_xinfo(${sqlString(ixName as string)}) WHERE key = 1 ORDER BY seqno`);
      if (keyCols.some((c) => (c[0] as number) < 0)) throw new CrissError('SQL', 'indexes on expressions are not supported');
      if (keyCols.some((c) => c[2] !== 'BINARY')) throw new CrissError('SQL', 'only the BINARY collation is supported');
      indexes.push({ name: origin === 'c' ? (ixName as string) : null, columns: keyCols.map((c) => c[1] as string), unique: unique === 1 });
    }
    out.set(t.toLowerCase(), { name: t, columns, pk, indexes: sortIndexes(dedupe(indexes)) });
  }
  return out;
}

/** `UNIQUE(a)` written twice is one constraint; keep it once so the tree does not depend on it. */
function dedupe(list: IndexDef[]): IndexDef[] {
  const seen = new Set<string>();
  return list.filter((ix) => {
    const k = JSON.stringify([ix.name, ix.columns, ix.unique]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** A table's entry in the database tree: its schema plus the links to its row and index trees. */
export interface TableEntry {
  def: TableDef;
  rows: Uint8Array;
  /** One id per `def.indexes` entry, same order. */
  indexRoots: Uint8Array[];
}

export function encodeTable(e: TableEntry): Uint8Array {
  const m = new Map<Value, Value>([
    ['columns', e.def.columns.map((c) => [c.name, c.type, c.notNull, c.dflt])],
    ['indexes', e.def.indexes.map((ix, i) => [ix.name, ix.columns, ix.unique, new Link(e.indexRoots[i])])],
    ['key', e.def.pk],
    ['rows', new Link(e.rows)],
  ]);
  return encodeValue(m);
}

function bad(what: string): CrissError {
  return new CrissError('BADVALUE', `not a SQL database: ${what}`);
}

const SAFE_TYPE = /^[A-Za-z0-9_ ]*(\([ 0-9,+-]*\))?$/;

export function decodeTable(keyBytes: Uint8Array, valBytes: Uint8Array): TableEntry {
  const name = decodeValue(keyBytes);
  if (typeof name !== 'string') throw bad('a key of the database tree is not a table name');
  const v = decodeValue(valBytes);
  if (!(v instanceof Map)) throw bad(`table ${name} is not a map`);
  const cols = v.get('columns');
  const ixs = v.get('indexes');
  const key = v.get('key');
  const rows = v.get('rows');
  if (!Array.isArray(cols) || !Array.isArray(ixs) || !Array.isArray(key) || !(rows instanceof Link)) throw bad(`table ${name} lacks columns, indexes, key or rows`);
  const columns = cols.map((c): Column => {
    if (!Array.isArray(c) || typeof c[0] !== 'string' || typeof c[1] !== 'string' || !SAFE_TYPE.test(c[1]) || typeof c[2] !== 'boolean' || !(c[3] === null || typeof c[3] === 'string')) throw bad(`a column of ${name} is malformed`);
    return { name: c[0], type: c[1], notNull: c[2], dflt: c[3] };
  });
  const indexRoots: Uint8Array[] = [];
  const indexes = ixs.map((x): IndexDef => {
    if (!Array.isArray(x) || !(x[0] === null || typeof x[0] === 'string') || !Array.isArray(x[1]) || typeof x[2] !== 'boolean' || !(x[3] instanceof Link)) throw bad(`an index of ${name} is malformed`);
    indexRoots.push(x[3].id);
    return { name: x[0], columns: x[1].map(String), unique: x[2] };
  });
  const def: TableDef = { name, columns, pk: key.map(String), indexes };
  for (const c of [...def.pk, ...indexes.flatMap((ix) => ix.columns)]) columnIndex(def, c);
  return { def, rows: rows.id, indexRoots };
}
