import { Command } from 'commander';
import { bytes, clientCommand, examples, ID_HELP, list, parseTtl, withDaemon, write } from './common.ts';
import type { Reply } from './client.ts';
import { substituteId } from './substitute.ts';

const PIN_HELP = 'keep it for this many milliseconds (-1: forever); an existing longer pin is kept';

function persist(): Command {
  const cmd = new Command('persist')
    .summary('pin an existing root so GC keeps it')
    .description(
      'Pin a tree, file or directory that already exists for --ttl milliseconds, extending (never shortening) any pin it has. ' +
        'Everything it links to is kept with it: a pinned directory keeps its files.',
    )
    .argument('<tree>', ID_HELP)
    .option('--ttl <ms>', PIN_HELP, parseTtl, -1)
    .action(async (tree: string, opts: { ttl: number }, self: Command) => {
      const root = await substituteId(tree);
      await withDaemon(self, (c) => c.call('PERSIST', root, String(opts.ttl)));
    });
  return examples(clientCommand(cmd), ['crisscross persist "$id" --ttl -1', 'crisscross persist ^app --ttl 86400000']);
}

function text(reply: Reply): string {
  return Buffer.isBuffer(reply) ? reply.toString() : String(reply);
}

function gc(): Command {
  const cmd = new Command('gc')
    .summary('collect garbage now, print what was freed')
    .description(
      'Run a garbage collection now: everything no pinned root, variable or grace period keeps alive is freed. ' +
        'Prints the daemon\'s report as "field:value" lines (roots, marked_blocks, freed_blocks, freed_bytes, duration_ms, …). ' +
        'The first collection after the daemon starts waits out its grace period (--gc-grace-ms), since roots handed out unpinned before a restart are not remembered.',
    )
    .action(async (_opts: object, self: Command) => {
      const fields = await withDaemon(self, async (c) => list(await c.call('GC'), 'GC'));
      for (let i = 0; i + 1 < fields.length; i += 2) await write(`${text(fields[i]!)}:${text(fields[i + 1]!)}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross gc', 'crisscross gc | grep freed_bytes']);
}

function compact(): Command {
  const cmd = new Command('compact')
    .summary('pin a root, print its id (trees are always compact)')
    .description(
      'Pin a tree like persist and print its id. Trees are always in their one canonical shape, so there is nothing to ' +
        'rewrite: the id printed is the id given. The command keeps the reference\'s name for scripts written against it.',
    )
    .argument('<tree>', ID_HELP)
    .option('--ttl <ms>', PIN_HELP, parseTtl, -1)
    .action(async (tree: string, opts: { ttl: number }, self: Command) => {
      const root = await substituteId(tree);
      const id = await withDaemon(self, async (c) => bytes(await c.call('COMPACT', root, String(opts.ttl)), 'COMPACT'));
      await write(`${id.toString()}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross compact ^app --ttl -1']);
}

/** What the daemon keeps and for how long: persist, gc, compact. */
export function lifetimeCommands(): Command[] {
  return [persist(), gc(), compact()];
}
