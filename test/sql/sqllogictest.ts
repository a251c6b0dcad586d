import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { Float, decodeValue } from '../../src/codec/index.ts';
import { realToText } from '../../src/sql/affinity.ts';

/**
 * A sqllogictest runner (format: ../shared/sql-notes.md) that sends every statement and query
 * through a daemon's SQL and SQLREAD commands, one database root threaded through the file.
 */
export const CORPUS = new URL('../../../shared/sqllogictest/', import.meta.url);

type Rec =
  | { kind: 'statement'; ok: boolean; sql: string; line: number }
  | { kind: 'query'; types: string; sort: string; sql: string; expected: string[]; line: number };

export function parseRecords(text: string): Rec[] {
  const out: Rec[] = [];
  const blocks = text.split(/\n\s*\n/);
  let line = 1;
  for (const block of blocks) {
    const start = line;
    line += block.split('\n').length + 1;
    const lines = block.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '');
    let skip = false;
    while (lines.length > 0 && /^(skipif|onlyif) /.test(lines[0])) {
      const [cond, engine] = lines.shift()!.split(/\s+/);
      if ((cond === 'skipif' && engine === 'sqlite') || (cond === 'onlyif' && engine !== 'sqlite')) skip = true;
    }
    if (skip || lines.length === 0) continue;
    const head = lines[0].split(/\s+/);
    if (head[0] === 'halt') break;
    if (head[0] === 'statement') out.push({ kind: 'statement', ok: head[1] === 'ok', sql: lines.slice(1).join('\n'), line: start });
    else if (head[0] === 'query') {
      const sep = lines.indexOf('----');
      const sqlLines = sep < 0 ? lines.slice(1) : lines.slice(1, sep);
      out.push({ kind: 'query', types: head[1], sort: head[2] ?? 'nosort', sql: sqlLines.join('\n'), expected: sep < 0 ? [] : lines.slice(sep + 1), line: start });
    }
  }
  return out;
}

type Cell = null | number | bigint | Float | string | Uint8Array;

function leadingNumber(s: string): number {
  const m = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(s);
  return m === null ? 0 : Number(m[0]);
}

function format(v: Cell, type: string): string {
  if (v === null) return 'NULL';
  const num = v instanceof Float ? v.value : typeof v === 'string' ? leadingNumber(v) : v instanceof Uint8Array ? leadingNumber(Buffer.from(v).toString()) : v;
  if (type === 'I') return typeof num === 'bigint' ? String(num) : String(Math.trunc(num));
  if (type === 'R') return Number(num).toFixed(3);
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v instanceof Uint8Array) s = Buffer.from(v).toString('latin1');
  else if (v instanceof Float) s = realToText(v.value);
  else if (typeof v === 'number' && !Number.isInteger(v)) s = realToText(v);
  else s = String(v);
  if (s === '') return '(empty)';
  return s.replace(/[^\x20-\x7e]/g, '@');
}

export interface FileResult {
  file: string;
  queries: number;
  passed: number;
  statementFailures: number;
  failures: string[];
}

/** Runs one corpus file on a fresh database; `limit` caps how many queries are run. */
export async function runFile(redis: Redis, file: string, limit = Infinity): Promise<FileResult> {
  const recs = parseRecords(await readFile(new URL(file, CORPUS), 'utf8'));
  let root = '';
  const res: FileResult = { file, queries: 0, passed: 0, statementFailures: 0, failures: [] };
  for (const r of recs) {
    if (r.kind === 'statement') {
      try {
        const reply = (await redis.callBuffer('SQL', root, '0', r.sql)) as Buffer[];
        root = reply[0].toString();
        if (!r.ok) {
          res.statementFailures++;
          res.failures.push(`${file}:${r.line}: statement should have failed: ${r.sql}`);
        }
      } catch (e) {
        if (r.ok) {
          res.statementFailures++;
          res.failures.push(`${file}:${r.line}: ${(e as Error).message}`);
        }
      }
      continue;
    }
    if (res.queries >= limit) break;
    res.queries++;
    let got: string[];
    try {
      const reply = (await redis.callBuffer('SQLREAD', root, r.sql)) as Buffer[];
      const result = decodeValue(reply[0]) as Map<string, Cell[][]>;
      let rows = (result.get('rows') ?? []).map((row) => row.map((v, i) => format(v, r.types[i] ?? 'T')));
      if (r.sort === 'rowsort') rows = rows.sort((a, b) => compareRows(a, b));
      got = rows.flat();
      if (r.sort === 'valuesort') got.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    } catch (e) {
      res.failures.push(`${file}:${r.line}: ${(e as Error).message}`);
      continue;
    }
    const hashed = r.expected.length === 1 ? /^(\d+) values hashing to ([0-9a-f]{32})$/.exec(r.expected[0]) : null;
    const ok = hashed !== null ? got.length === Number(hashed[1]) && md5(got) === hashed[2] : got.length === r.expected.length && got.every((v, i) => v === r.expected[i]);
    if (ok) res.passed++;
    else res.failures.push(`${file}:${r.line}: wrong result for ${r.sql.replace(/\s+/g, ' ').slice(0, 120)}`);
  }
  return res;
}

function compareRows(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

function md5(values: string[]): string {
  const h = createHash('md5');
  for (const v of values) h.update(`${v}\n`);
  return h.digest('hex');
}
