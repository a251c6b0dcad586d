import { Command } from 'commander';
import { Float, decodeValue } from '../codec/index.ts';
import { bytes, clientCommand, examples, ID_HELP, list, parseTtl, withDaemon, write } from './common.ts';
import type { Reply } from './client.ts';
import { CliFailure, EXIT } from './exit.ts';
import { substituteId } from './substitute.ts';

type Cell = null | number | bigint | Float | string | Uint8Array;
type Result = { columns: string[]; rows: Cell[][] } | { changes: number };

function result(reply: Reply): Result {
  const m = decodeValue(bytes(reply, 'SQL'));
  if (!(m instanceof Map)) throw new CliFailure(EXIT.server, 'unexpected SQL result: not a map');
  if (m.has('changes')) return { changes: Number(m.get('changes')) };
  return { columns: m.get('columns') as string[], rows: m.get('rows') as Cell[][] };
}

function text(v: Cell): string {
  if (v === null) return 'NULL';
  if (v instanceof Float) return Number.isInteger(v.value) ? `${v.value}.0` : String(v.value);
  if (v instanceof Uint8Array) return `x'${Buffer.from(v).toString('hex')}'`;
  return String(v);
}

/** JSON has no bigint, no 1.0 and no bytes: big integers become strings, bytes {"hex": …}. */
function json(v: Cell): unknown {
  if (typeof v === 'bigint') return String(v);
  if (v instanceof Float) return v.value;
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  return v;
}

/** A result as psql-like text: aligned columns under a header, then the row count. */
export function renderResult(r: Result): string {
  if ('changes' in r) return `(${r.changes} ${r.changes === 1 ? 'row' : 'rows'} changed)\n`;
  const cells = r.rows.map((row) => row.map(text));
  const width = r.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]): string => `${vals.map((v, i) => v.padEnd(width[i])).join(' | ').trimEnd()}\n`;
  let out = line(r.columns) + `${width.map((w) => '-'.repeat(w)).join('-+-')}\n`;
  for (const row of cells) out += line(row);
  return `${out}(${cells.length} ${cells.length === 1 ? 'row' : 'rows'})\n`;
}

function toJson(r: Result): unknown {
  return 'changes' in r ? r : { columns: r.columns, rows: r.rows.map((row) => row.map(json)) };
}

async function print(root: string | null, results: Result[], asJson: boolean): Promise<void> {
  if (asJson) {
    const out = root === null ? { results: results.map(toJson) } : { root, results: results.map(toJson) };
    await write(`${JSON.stringify(out)}\n`);
    return;
  }
  if (root !== null) await write(`${root}\n`);
  for (const r of results) await write(`${root !== null || results.length > 1 ? '\n' : ''}${renderResult(r)}`);
}

function sql(): Command {
  const cmd = new Command('sql')
    .summary('run SQL statements on a database tree, print the new root and the results')
    .description('Run SQL statements (SQLite\'s dialect) on the database held by a tree, as one transaction: if one fails nothing is written. Prints the new root id, then each statement\'s rows as a table or its count of changed rows.')
    .argument('<tree>', `${ID_HELP}; "" starts an empty database`)
    .argument('<statements...>', 'SQL statements, one per argument (or ;-separated)')
    .option('--ttl <ms>', 'pin the new root for this many milliseconds (-1: forever)', parseTtl, -1)
    .option('--json', 'print {"root": …, "results": [{"columns", "rows"} | {"changes"}]} instead of tables')
    .action(async (tree: string, stmts: string[], opts: { ttl: number; json?: boolean }, self: Command) => {
      const root = await substituteId(tree);
      const reply = await withDaemon(self, async (c) => list(await c.call('SQL', root, String(opts.ttl), ...stmts), 'SQL'));
      await print(bytes(reply[0], 'SQL').toString(), reply.slice(1).map(result), opts.json === true);
    });
  return examples(clientCommand(cmd), [
    `crisscross sql "" "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)" "INSERT INTO t(name) VALUES('ada'), ('alan')"`,
    `db=$(crisscross sql ^db "UPDATE t SET name = upper(name)" | head -1) && crisscross var_set db "$db"`,
  ]);
}

function sqlRead(): Command {
  const cmd = new Command('sql_read')
    .summary('run read-only SQL statements on a database tree, print the results')
    .description('Run SELECT (and other read-only) statements on the database held by a tree and print each result as a table. A statement that would write is refused.')
    .argument('<tree>', ID_HELP)
    .argument('<statements...>', 'SQL statements, one per argument (or ;-separated)')
    .option('--json', 'print {"results": [{"columns", "rows"}…]} instead of tables')
    .action(async (tree: string, stmts: string[], opts: { json?: boolean }, self: Command) => {
      const root = await substituteId(tree);
      const reply = await withDaemon(self, async (c) => list(await c.call('SQLREAD', root, ...stmts), 'SQLREAD'));
      await print(null, reply.map(result), opts.json === true);
    });
  return examples(clientCommand(cmd), ['crisscross sql_read ^db "SELECT * FROM t ORDER BY id"', 'crisscross sql_read ^db "SELECT count(*) FROM t" --json']);
}

export function sqlCommands(): Command[] {
  return [sql(), sqlRead()];
}
