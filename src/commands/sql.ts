import { Buffer } from 'node:buffer';
import { CrissError } from '../errors.ts';
import { type SqlEngine, type SqlInput, encodeResult, textAt } from '../sql/index.ts';
import { idToText } from '../store/id.ts';
import { type TreeDeps, rootOf, ttlArg } from './args.ts';
import type { ArgumentDoc, CommandSpec } from './spec.ts';

export interface SqlDeps extends TreeDeps {
  sql: Pick<SqlEngine, 'run'>;
}

const TREE: ArgumentDoc = { name: 'tree', type: 'key', display_text: 'tree' };
const STMT: ArgumentDoc = {
  name: 'statement', type: 'block', multiple: true,
  arguments: [
    { name: 'stmt', type: 'string' },
    { name: 'params', type: 'block', token: 'PARAMS', optional: true, arguments: [{ name: 'n', type: 'integer' }, { name: 'value', type: 'string', multiple: true, optional: true }] },
  ],
};
const RESULT =
  'a bulk string holding a msgpack map: {"columns": [names…], "rows": [[values…]…]} for a statement that returns rows, {"changes": n} for any other (n rows inserted, updated or deleted; 0 for DDL)';

/** Front-ends decode into Buffers: no view made per argument (a batch has hundreds). */
const text = (a: Uint8Array): string => (Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength)).toString('utf8');

const PARAMS = [0x50, 0x41, 0x52, 0x41, 0x4d, 0x53];

/** The PARAMS token in any case, checked on the bytes: every statement of a call is tested twice. */
function isParams(arg: Uint8Array): boolean {
  if (arg.length !== 6) return false;
  // ASCII letters differ from their lower case by bit 5 alone.
  for (let i = 0; i < 6; i++) if ((arg[i] & 0xdf) !== PARAMS[i]) return false;
  return true;
}

/** A parameter value: mostly short numbers, decoded without a Buffer call. */
const paramText = (a: Uint8Array): string => (a.length <= 32 ? textAt(a, 0, a.length) : text(a));

/**
 * The statement arguments, each optionally followed by `PARAMS n v1 … vn`: n values bound (as
 * text) to that statement's `?` parameters. No statement is the bare word PARAMS, so every
 * earlier form of the call still means what it did.
 */
export function statementArgs(args: Uint8Array[]): SqlInput[] {
  const out: SqlInput[] = [];
  for (let i = 0; i < args.length; i++) {
    const sql = text(args[i]);
    if (args[i + 1] === undefined || !isParams(args[i + 1])) {
      if (isParams(args[i])) throw new CrissError('ERR', 'PARAMS must follow a statement');
      out.push(sql);
      continue;
    }
    const n = args[i + 2] === undefined ? NaN : Number(text(args[i + 2]));
    if (!Number.isSafeInteger(n) || n < 0 || i + 3 + n > args.length) throw new CrissError('ERR', 'PARAMS needs a count n and then n values');
    out.push({ sql, params: args.slice(i + 3, i + 3 + n).map(paramText) });
    i += 2 + n;
  }
  return out;
}

/** SQL and SQLREAD: SQLite's language over the tables of a database tree (docs/format.md §14). */
export function sqlCommands(deps: SqlDeps): CommandSpec[] {
  return [
    {
      name: 'SQL', arity: -4, flags: ['write'], group: 'sql', since: '0.1.0',
      summary: 'Runs SQL statements on a database tree as one transaction and returns the new root.',
      arguments: [TREE, { name: 'ttl', type: 'integer', display_text: 'ttl' }, STMT],
      reply: `Array: the base58 id of the new root (pinned for ttl ms; "" as tree starts an empty database), then one result per statement, each ${RESULT}. If any statement fails nothing is written, and the error (SQL, CONSTRAINT) names the statement.`,
      handler: async (ctx) => {
        const ttl = ttlArg(ctx.args[1]);
        const root = await rootOf(deps, ctx.args[0]);
        const out = await deps.sql.run(root, statementArgs(ctx.args.slice(2)), { write: true, ttl });
        ctx.reply.array(out.results.length + 1);
        ctx.reply.bulk(idToText(out.root));
        for (const r of out.results) ctx.reply.bulk(encodeResult(r));
      },
    },
    {
      name: 'SQLREAD', arity: -3, flags: ['readonly'], group: 'sql', since: '0.1.0',
      summary: 'Runs read-only SQL statements on a database tree.',
      arguments: [TREE, STMT],
      reply: `Array with one result per statement, each ${RESULT}. READONLY for a statement that would write.`,
      handler: async (ctx) => {
        const root = await rootOf(deps, ctx.args[0]);
        const out = await deps.sql.run(root, statementArgs(ctx.args.slice(1)), { write: false, ttl: 0 });
        ctx.reply.array(out.results.length);
        for (const r of out.results) ctx.reply.bulk(encodeResult(r));
      },
    },
  ];
}
