import { Command } from 'commander';
import { bytes, clientCommand, examples, ID_HELP, integer, list, parseCount, parseTtl, withDaemon, write, writeValue } from './common.ts';
import type { Reply } from './client.ts';
import { CliFailure, EXIT } from './exit.ts';
import { substituteId } from './substitute.ts';

const TTL_HELP = 'pin the new root for this many milliseconds (-1: forever)';

/** A range is fetched in pages of this many pairs: big enough to amortise round trips, small enough to stream. */
const PAGE = 1000;

function put(): Command {
  const cmd = new Command('put')
    .summary('write key/value pairs, print the new root id')
    .description('Write one or more key/value pairs (raw bytes) into a tree and print the id of the new root. The old root stays valid.')
    .argument('<tree>', ID_HELP)
    .argument('<pairs...>', 'key value [key value …]')
    .option('--ttl <ms>', TTL_HELP, parseTtl, -1)
    .action(async (tree: string, pairs: string[], opts: { ttl: number }, self: Command) => {
      if (pairs.length % 2 !== 0) throw new CliFailure(EXIT.usage, `put takes key value pairs: "${pairs.at(-1)}" has no value`);
      const root = await substituteId(tree);
      const id = await withDaemon(self, async (c) => bytes(await c.call('PUTMULTIBIN', root, String(opts.ttl), ...pairs), 'PUTMULTIBIN'));
      await write(`${id.toString()}\n`);
    });
  return examples(clientCommand(cmd), [
    'crisscross put "" hello world',
    'root=$(crisscross put "" a 1 b 2 --ttl 3600000) && crisscross get "$root" b',
    'crisscross put ^app greeting hi',
  ]);
}

function get(): Command {
  const cmd = new Command('get')
    .summary('print the value of a key')
    .description('Write the raw bytes of a key\'s value to stdout (a newline is added only on a terminal). Exits 1 if the key is missing.')
    .argument('<tree>', ID_HELP)
    .argument('<key>', 'the key')
    .action(async (tree: string, key: string, _opts: object, self: Command) => {
      const root = await substituteId(tree);
      const value = await withDaemon(self, (c) => c.call('FETCHBIN', root, key));
      if (value === null) throw new CliFailure(EXIT.no, `key not found: ${key}`);
      const raw = bytes(value, 'FETCHBIN');
      await writeValue(raw);
    });
  return examples(clientCommand(cmd), ['crisscross get QmbTz9… hello', 'crisscross get ^app greeting > greeting.txt']);
}

function del(): Command {
  const cmd = new Command('delete')
    .summary('remove keys, print the new root id')
    .description('Remove keys from a tree (missing keys are ignored) and print the id of the new root.')
    .argument('<tree>', ID_HELP)
    .argument('<keys...>', 'keys to remove')
    .option('--ttl <ms>', TTL_HELP, parseTtl, -1)
    .action(async (tree: string, keys: string[], opts: { ttl: number }, self: Command) => {
      const root = await substituteId(tree);
      const id = await withDaemon(self, async (c) => bytes(await c.call('DELMULTIBIN', root, String(opts.ttl), ...keys), 'DELMULTIBIN'));
      await write(`${id.toString()}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross delete QmbTz9… hello', 'crisscross delete ^app a b c --ttl 60000']);
}

function hasKey(): Command {
  const cmd = new Command('has_key')
    .summary('print true or false; exit 0 or 1')
    .description('Tell whether a tree holds a key: prints true (exit 0) or false (exit 1).')
    .argument('<tree>', ID_HELP)
    .argument('<key>', 'the key')
    .action(async (tree: string, key: string, _opts: object, self: Command) => {
      const root = await substituteId(tree);
      const found = await withDaemon(self, async (c) => integer(await c.call('HASKEYBIN', root, key), 'HASKEYBIN'));
      await write(found ? 'true\n' : 'false\n');
      if (!found) throw new CliFailure(EXIT.no, '');
    });
  return examples(clientCommand(cmd), ['crisscross has_key ^app config', 'if crisscross has_key ^app config >/dev/null; then echo configured; fi']);
}

function bytesWritten(): Command {
  const cmd = new Command('bytes_written')
    .summary('print the size of a tree in bytes')
    .description('Print how many bytes the tree\'s blocks take.')
    .argument('<tree>', ID_HELP)
    .action(async (tree: string, _opts: object, self: Command) => {
      const root = await substituteId(tree);
      const n = await withDaemon(self, async (c) => integer(await c.call('BYTESWRITTEN', root), 'BYTESWRITTEN'));
      await write(`${n}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross bytes_written ^app']);
}


function diff(): Command {
  const cmd = new Command('diff')
    .summary('print the keys that differ between two trees')
    .description('Print every key whose value differs between tree a and tree b, in key order: "-key<TAB>value" for a\'s side, "+key<TAB>value" for b\'s.')
    .argument('<a>', ID_HELP)
    .argument('<b>', ID_HELP)
    .action(async (a: string, b: string, _opts: object, self: Command) => {
      const [left, right] = await Promise.all([substituteId(a), substituteId(b)]);
      const entries = await withDaemon(self, async (c) => list(await c.call('DIFF', left, right), 'DIFF'));
      // DIFF replies in msgpack; the decoder is loaded only for the one command that needs it.
      const { renderValue } = await import('./render.ts');
      const line = (sign: string, key: Reply, value: Reply): Buffer =>
        Buffer.concat([Buffer.from(sign), renderValue(bytes(key, 'DIFF')), Buffer.from('\t'), renderValue(bytes(value, 'DIFF')), Buffer.from('\n')]);
      for (const entry of entries) {
        const [key, before, after] = list(entry, 'DIFF');
        if (before !== null) await write(line('-', key!, before!));
        if (after !== null) await write(line('+', key!, after!));
      }
    });
  return examples(clientCommand(cmd), ['crisscross diff "$old" "$new"']);
}

interface RangeOptions {
  min?: string;
  max?: string;
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
  reverse?: boolean;
  count?: number;
}

function rangeArgs(opts: RangeOptions, count: number): string[] {
  const args: string[] = [];
  if (opts.min !== undefined) args.push('MIN', opts.min);
  if (opts.max !== undefined) args.push('MAX', opts.max);
  if (opts.exclusiveMin) args.push('EXCLMIN');
  if (opts.exclusiveMax) args.push('EXCLMAX');
  if (opts.reverse) args.push('REV');
  args.push('COUNT', String(count));
  return args;
}

function range(): Command {
  const cmd = new Command('range')
    .summary('print key/value pairs in key order')
    .description('Print the pairs of a tree in key order, one "key<TAB>value" line each, fetched page by page.')
    .argument('<tree>', ID_HELP)
    .option('--min <key>', 'start at this key (inclusive unless --exclusive-min)')
    .option('--max <key>', 'stop at this key (inclusive unless --exclusive-max)')
    .option('--exclusive-min', 'leave out --min itself')
    .option('--exclusive-max', 'leave out --max itself')
    .option('--reverse', 'largest key first')
    .option('--count <n>', 'print at most n pairs', parseCount)
    .action(async (tree: string, opts: RangeOptions, self: Command) => {
      const root = await substituteId(tree);
      await withDaemon(self, async (c) => {
        let left = opts.count ?? Infinity;
        let cursor = '0';
        do {
          const [next, pairs] = list(await c.call('SCANTREEBIN', root, cursor, ...rangeArgs(opts, Math.min(left, PAGE))), 'SCANTREEBIN');
          const flat = list(pairs, 'SCANTREEBIN');
          for (let i = 0; i + 1 < flat.length && left > 0; i += 2, left--) {
            await write(Buffer.concat([bytes(flat[i], 'SCANTREEBIN'), Buffer.from('\t'), bytes(flat[i + 1], 'SCANTREEBIN'), Buffer.from('\n')]));
          }
          cursor = bytes(next, 'SCANTREEBIN').toString();
        } while (cursor !== '0' && left > 0);
      });
    });
  return examples(clientCommand(cmd), [
    'crisscross range ^app',
    'crisscross range ^app --min user: --max user:~ --count 10',
    'crisscross range "$root" --reverse --count 1',
  ]);
}

/** The subcommands that read and write trees. */
export function treeCommands(): Command[] {
  return [put(), get(), del(), hasKey(), bytesWritten(), diff(), range()];
}
