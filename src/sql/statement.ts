/**
 * Just enough of SQLite's lexer to split statements, tell DDL (run against the schema
 * connection) from queries and DML (run over the virtual tables), and read what SQLite does not
 * tell a virtual table: which columns an INSERT names, and its conflict clause.
 */
interface Token {
  /** word: keyword or bare identifier (upper-cased in `up`); name: quoted identifier. */
  kind: 'word' | 'name' | 'other';
  text: string;
  up: string;
  start: number;
  end: number;
}

function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (/\s/.test(c)) i++;
    else if (c === '-' && sql[i + 1] === '-') i = sql.indexOf('\n', i) < 0 ? n : sql.indexOf('\n', i);
    else if (c === '/' && sql[i + 1] === '*') i = sql.indexOf('*/', i + 2) < 0 ? n : sql.indexOf('*/', i + 2) + 2;
    else if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      for (;;) {
        const k = sql.indexOf(close, j);
        if (k < 0) {
          j = n;
          break;
        }
        if (close !== ']' && sql[k + 1] === close) j = k + 2;
        else {
          j = k + 1;
          break;
        }
      }
      const raw = sql.slice(i, j);
      const text = c === "'" ? raw : raw.slice(1, -1).replaceAll(close + close, close);
      out.push({ kind: c === "'" ? 'other' : 'name', text, up: text.toUpperCase(), start: i, end: j });
      i = j;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j])) j++;
      const text = sql.slice(i, j);
      out.push({ kind: 'word', text, up: text.toUpperCase(), start: i, end: j });
      i = j;
    } else {
      out.push({ kind: 'other', text: c, up: c, start: i, end: i + 1 });
      i++;
    }
  }
  return out;
}

export type Conflict = 'ABORT' | 'IGNORE' | 'REPLACE';

export interface InsertInfo {
  table: string;
  /** Named columns; null when the INSERT names none (every column gets a value). */
  columns: string[] | null;
  conflict: Conflict;
}

export type Statement =
  | { kind: 'query'; sql: string; insert: InsertInfo | null }
  | { kind: 'ddl'; sql: string; renameTable: { from: string; to: string } | null }
  | { kind: 'unsupported'; sql: string; why: string };

const IDENT = (t: Token | undefined): boolean => t !== undefined && (t.kind === 'word' || t.kind === 'name');

const parsed = new Map<string, Statement[]>();

/** Splits a client argument into statements (several may share one argument, `;`-separated). */
export function parseStatements(sql: string): Statement[] {
  let hit = parsed.get(sql);
  if (hit === undefined) {
    hit = split(sql);
    // Clients repeat their statements; the lexer costs more than the lookup of a repeat.
    if (parsed.size >= 1024) parsed.clear();
    parsed.set(sql, hit);
  }
  return hit;
}

function split(sql: string): Statement[] {
  const tokens = tokenize(sql);
  const out: Statement[] = [];
  let from = 0;
  for (let i = 0; i <= tokens.length; i++) {
    if (i < tokens.length && tokens[i].text !== ';') continue;
    const part = tokens.slice(from, i);
    if (part.length > 0) out.push(classify(sql.slice(part[0].start, part[part.length - 1].end), part));
    from = i + 1;
  }
  return out;
}

const UNSUPPORTED_IN_TABLE = new Set(['CHECK', 'COLLATE', 'REFERENCES', 'FOREIGN', 'GENERATED', 'AS', 'STRICT']);

function classify(sql: string, t: Token[]): Statement {
  const w = (i: number): string => (t[i]?.kind === 'word' ? t[i].up : '');
  switch (w(0)) {
    case 'SELECT':
    case 'VALUES':
    case 'WITH':
    case 'INSERT':
    case 'REPLACE':
    case 'UPDATE':
    case 'DELETE':
    case 'EXPLAIN':
      return { kind: 'query', sql, insert: insertInfo(t) };
    case 'CREATE': {
      const k = w(1) === 'UNIQUE' ? w(2) : w(1);
      if (k === 'TABLE') {
        const bad = t.find((x) => x.kind === 'word' && UNSUPPORTED_IN_TABLE.has(x.up));
        if (bad !== undefined) return { kind: 'unsupported', sql, why: `${bad.up} in CREATE TABLE is not supported` };
        return { kind: 'ddl', sql, renameTable: null };
      }
      if (k === 'INDEX') return { kind: 'ddl', sql, renameTable: null };
      return { kind: 'unsupported', sql, why: `CREATE ${k} is not supported (tables and indexes only)` };
    }
    case 'DROP':
      if (w(1) === 'TABLE' || w(1) === 'INDEX') return { kind: 'ddl', sql, renameTable: null };
      return { kind: 'unsupported', sql, why: `DROP ${w(1)} is not supported` };
    case 'ALTER':
      return { kind: 'ddl', sql, renameTable: renameOf(t) };
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
      return { kind: 'unsupported', sql, why: 'transaction statements are not needed: the statements of one call are one transaction' };
    default:
      // SQLite reports the syntax error, or the authorizer refuses what trees cannot serve.
      return { kind: 'query', sql, insert: null };
  }
}

/** `ALTER TABLE a RENAME TO b`: the rows move with the name (column renames keep them). */
function renameOf(t: Token[]): { from: string; to: string } | null {
  let i = 2;
  if (t[i + 1]?.text === '.') i += 2;
  const from = t[i];
  if (!IDENT(from) || t[i + 1]?.up !== 'RENAME' || t[i + 2]?.up !== 'TO' || !IDENT(t[i + 3])) return null;
  return { from: from.text, to: t[i + 3].text };
}

function insertInfo(t: Token[]): InsertInfo | null {
  let depth = 0;
  let i = 0;
  for (; i < t.length; i++) {
    if (t[i].text === '(') depth++;
    else if (t[i].text === ')') depth--;
    else if (depth === 0 && t[i].kind === 'word' && (t[i].up === 'INSERT' || t[i].up === 'REPLACE')) break;
  }
  if (i >= t.length) return null;
  let conflict: Conflict = t[i].up === 'REPLACE' ? 'REPLACE' : 'ABORT';
  i++;
  if (t[i]?.up === 'OR') {
    const c = t[i + 1]?.up;
    if (c === 'REPLACE' || c === 'IGNORE') conflict = c;
    i += 2;
  }
  if (t[i]?.up !== 'INTO') return null;
  i++;
  if (t[i + 1]?.text === '.') i += 2;
  if (!IDENT(t[i])) return null;
  const table = t[i].text;
  i++;
  if (t[i]?.up === 'AS' && IDENT(t[i + 1])) i += 2;
  if (t[i]?.up === 'DEFAULT' && t[i + 1]?.up === 'VALUES') return { table, columns: [], conflict };
  if (t[i]?.text !== '(') return { table, columns: null, conflict };
  const columns: string[] = [];
  for (i++; i < t.length && t[i].text !== ')'; i++) if (IDENT(t[i])) columns.push(t[i].text);
  return { table, columns, conflict };
}

/** The start of a statement, for error messages. */
export function snippet(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 60 ? `${one.slice(0, 57)}...` : one;
}
