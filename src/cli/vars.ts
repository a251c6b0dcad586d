import { Command, Option } from 'commander';
import { bytes, clientCommand, examples, ID_HELP, integer, withDaemon, write } from './common.ts';
import { CliFailure, EXIT } from './exit.ts';
import { substituteId } from './substitute.ts';

function varSet(): Command {
  const cmd = new Command('var_set')
    .summary('set a variable (optionally compare-and-set)')
    .description(
      'Set a named variable on the daemon, typically to the current root of an application\'s tree; ' +
        '^name then stands for its value in any id argument. With --if, the variable is set only if it still ' +
        'holds <expected>, with --nx only if it is not set yet; otherwise nothing changes and the exit code is 1.',
    )
    .argument('<name>', 'variable name')
    .argument('<value>', ID_HELP)
    .addOption(new Option('--if <expected>', 'compare-and-set: only if the variable currently holds this value').conflicts('nx'))
    .option('--nx', 'only if the variable is not set yet')
    .action(async (name: string, value: string, opts: { if?: string; nx?: boolean }, self: Command) => {
      const args = [name, await substituteId(value)];
      if (opts.if !== undefined) args.push('IF', await substituteId(opts.if));
      if (opts.nx) args.push('NX');
      // Nil is the daemon's "the condition did not hold, nothing written".
      const reply = await withDaemon(self, (c) => c.call('VARSET', ...args));
      if (reply === null) throw new CliFailure(EXIT.no, `variable ${name} ${opts.nx ? 'is already set' : 'no longer holds the --if value'}; nothing changed`);
    });
  return examples(clientCommand(cmd), [
    'crisscross var_set app "$(crisscross put "" hello world)"',
    'crisscross var_set app "$root" --nx || echo "app already exists"',
    'old=$(crisscross var_get app); new=$(crisscross put "$old" k v); crisscross var_set app "$new" --if "$old"',
  ]);
}

function varGet(): Command {
  const cmd = new Command('var_get')
    .summary('print a variable')
    .description('Print the value of a variable; exits 1 if it is not set.')
    .argument('<name>', 'variable name')
    .action(async (name: string, _opts: object, self: Command) => {
      const value = await withDaemon(self, (c) => c.call('VARGET', name));
      if (value === null) throw new CliFailure(EXIT.no, `variable not set: ${name}`);
      await write(Buffer.concat([bytes(value, 'VARGET'), Buffer.from('\n')]));
    });
  return examples(clientCommand(cmd), ['crisscross var_get app']);
}

function varDelete(): Command {
  const cmd = new Command('var_delete')
    .summary('delete a variable')
    .description('Delete a variable; exits 1 if it was not set.')
    .argument('<name>', 'variable name')
    .action(async (name: string, _opts: object, self: Command) => {
      const removed = await withDaemon(self, async (c) => integer(await c.call('VARDELETE', name), 'VARDELETE'));
      if (!removed) throw new CliFailure(EXIT.no, `variable not set: ${name}`);
    });
  return examples(clientCommand(cmd), ['crisscross var_delete app']);
}

function info(): Command {
  const cmd = new Command('info')
    .summary('print what the daemon is doing')
    .description('Print the daemon\'s INFO report, or one section of it (server, clients, memory, store, …).')
    .argument('[section]', 'only this section')
    .action(async (section: string | undefined, _opts: object, self: Command) => {
      const text = await withDaemon(self, async (c) => bytes(await (section ? c.call('INFO', section) : c.call('INFO')), 'INFO'));
      await write(text.toString().replaceAll('\r\n', '\n'));
    });
  return examples(clientCommand(cmd), ['crisscross info', 'crisscross info store']);
}

/** Variables and the daemon report. */
export function varCommands(): Command[] {
  return [varSet(), varGet(), varDelete(), info()];
}
