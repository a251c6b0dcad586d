import { type SqlEngine, encodeResult } from '../sql/index.ts';
import { idToText } from '../store/id.ts';
import { type TreeDeps, rootOf, ttlArg } from './args.ts';
import type { ArgumentDoc, CommandContext, CommandSpec } from './spec.ts';

export interface SqlDeps extends TreeDeps {
  sql: SqlEngine;
}

const TREE: ArgumentDoc = { name: 'tree', type: 'key', display_text: 'tree' };
const STMT: ArgumentDoc = { name: 'stmt', type: 'string', multiple: true };
const RESULT =
  'a bulk string holding a msgpack map: {"columns": [names…], "rows": [[values…]…]} for a statement that returns rows, {"changes": n} for any other (n rows inserted, updated or deleted; 0 for DDL)';

const statements = (ctx: CommandContext, from: number): string[] => ctx.args.slice(from).map((a) => Buffer.from(a).toString('utf8'));

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
        const out = await deps.sql.run(root, statements(ctx, 2), { write: true, ttl });
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
        const out = await deps.sql.run(root, statements(ctx, 1), { write: false, ttl: 0 });
        ctx.reply.array(out.results.length);
        for (const r of out.results) ctx.reply.bulk(encodeResult(r));
      },
    },
  ];
}
