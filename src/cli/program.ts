import { Command } from 'commander';
import { packageVersion } from '../config.ts';
import { clientCommand } from './common.ts';
import { clusterCommands } from './clusters.ts';
import { jobCommandsCli } from './jobs.ts';
import { EXIT_HELP } from './exit.ts';
import { dirCommands } from './dirs.ts';
import { fileCommands } from './files.ts';
import { lifetimeCommands } from './lifetime.ts';
import { pointerCommands } from './pointers.ts';
import { serveCommand } from './serve.ts';
import { sqlCommands } from './sql.ts';
import { treeCommands } from './trees.ts';
import { tunnelCommands } from './tunnels.ts';
import { varCommands } from './vars.ts';

const OVERVIEW = `Arguments that name a tree or id accept:
  QmbTz9…           a root id in base58
  "" or nil         the empty tree
  ^name             the value of a daemon variable (see var_set)
  *file.yaml#Field  a field of a local YAML file

Client commands reach the daemon with --host/--port/--password or
CRISSCROSS_HOST, CRISSCROSS_PORT, CRISSCROSS_PASSWORD (default 127.0.0.1:11111);
the flags go before or after the subcommand: crisscross -p 6400 get … or get … -p 6400.

${EXIT_HELP}`;

/** The whole command line; main.ts runs it, tests inspect it. */
export function buildProgram(): Command {
  const program = new Command('crisscross')
    .description('Immutable content-addressed trees behind a Redis-protocol daemon.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    // Usage errors must exit 2, not commander's 1: main.ts maps the thrown CommanderError.
    .exitOverride()
    // Without positional options the program would also swallow a subcommand's own -p/--host.
    .enablePositionalOptions()
    .addHelpText('after', `\n${OVERVIEW}\n`);
  clientCommand(program);
  for (const cmd of [serveCommand(), ...treeCommands(), ...fileCommands(), ...dirCommands(), ...lifetimeCommands(), ...sqlCommands(), ...varCommands(), ...clusterCommands(), ...pointerCommands(), ...tunnelCommands(), ...jobCommandsCli()]) {
    program.addCommand(cmd.copyInheritedSettings(program));
  }
  return program;
}
