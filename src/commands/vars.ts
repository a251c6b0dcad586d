import { CrissError } from '../errors.ts';
import type { TreeDeps } from './args.ts';
import type { Dispatcher } from './dispatch.ts';
import type { CommandSpec } from './spec.ts';

const NAME = { name: 'name', type: 'string' } as const;

/**
 * Variables: named local values, usually the current root of an application's tree. `^name`
 * in any tree argument reads one; VARWITH runs a command with one as its tree argument.
 */
export function varCommands(deps: TreeDeps): CommandSpec[] {
  return [
    {
      name: 'VARSET', arity: -3, flags: ['write'], group: 'variables', since: '0.1.0',
      summary: 'Sets a variable; with IF, only when it still holds the expected value (compare-and-set); with NX, only when unset.',
      arguments: [NAME, { name: 'value', type: 'string' }, { name: 'condition', type: 'oneof', optional: true, arguments: [
        { name: 'expected', type: 'string', token: 'IF' }, { name: 'nx', type: 'pure-token', token: 'NX' },
      ] }],
      reply: 'Simple string OK when set; nil when the IF/NX condition did not hold (nothing written).',
      handler: async (ctx) => {
        const a = ctx.args;
        let expect: Uint8Array | null | undefined;
        if (a.length === 4 && Buffer.from(a[2]).toString('latin1').toUpperCase() === 'IF') expect = a[3];
        else if (a.length === 3 && Buffer.from(a[2]).toString('latin1').toUpperCase() === 'NX') expect = null;
        else if (a.length !== 2) throw new CrissError('ERR', 'syntax error');
        if (await deps.vars.set(a[0], a[1], expect)) ctx.reply.simple('OK');
        else ctx.reply.nil();
      },
    },
    {
      name: 'VARGET', arity: 2, flags: ['readonly', 'fast'], group: 'variables', since: '0.1.0',
      summary: 'Returns the value of a variable.',
      arguments: [NAME],
      reply: 'Bulk string, or nil when the variable is not set.',
      handler: async (ctx) => {
        const v = await deps.vars.get(ctx.args[0]);
        if (v === undefined) ctx.reply.nil();
        else ctx.reply.bulk(v);
      },
    },
    {
      name: 'VARDELETE', arity: 2, flags: ['write'], group: 'variables', since: '0.1.0',
      summary: 'Deletes a variable.',
      arguments: [NAME],
      reply: 'Integer: 1 when it existed, 0 when not.',
      handler: async (ctx) => {
        const existed = (await deps.vars.get(ctx.args[0])) !== undefined;
        if (existed) await deps.vars.set(ctx.args[0], null);
        ctx.reply.integer(existed ? 1 : 0);
      },
    },
  ];
}

const takesTree = (spec: CommandSpec): boolean => spec.arguments[0]?.type === 'key';

/** VARWITH name CMD args… runs `CMD ^name args…` for any command whose first argument is a tree. */
export function varWithCommand(dispatcher: Dispatcher): CommandSpec {
  return {
    name: 'VARWITH', arity: -3, flags: [], group: 'variables', since: '0.1.0',
    summary: 'Runs a tree command with the tree held by a variable as its tree argument.',
    arguments: [NAME, { name: 'command', type: 'string' }, { name: 'arg', type: 'string', optional: true, multiple: true }],
    reply: 'Whatever the command replies.',
    handler: (ctx) => {
      const [name, cmd, ...rest] = ctx.args;
      const refused = (): CrissError => {
        const cmdName = Buffer.from(cmd).toString('latin1').toUpperCase();
        return new CrissError('ERR', `VARWITH cannot run '${cmdName.toLowerCase().slice(0, 64)}': it takes no tree argument`);
      };
      return dispatcher.invoke([cmd, Buffer.concat([Buffer.from('^'), name]), ...rest], ctx, takesTree, refused);
    },
  };
}
