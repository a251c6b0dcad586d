import { Command, InvalidArgumentError } from 'commander';
import { bytes, clientCommand, examples, parseTtl, withDaemon, write, writeValue } from './common.ts';
import { CLUSTER_HELP } from './clusters.ts';
import { CliFailure, EXIT } from './exit.ts';
import { substituteId } from './substitute.ts';

function parseGeneration(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function pointerSet(): Command {
  const cmd = new Command('pointer_set')
    .summary('publish a signed pointer in a cluster')
    .description(
      'Sign <value> with the key pair and publish it under the key pair\'s pointer name (its Name) on the cluster\'s DHT, at the ' +
        'generation after the newest the cluster holds. The daemon republishes it while --ttl lasts, after restarts too. Prints the name.',
    )
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<private_key>', 'the key pair\'s PrivateKey (base58), or *keys/file.yaml#PrivateKey')
    .argument('<value>', 'what the pointer points at, e.g. a root id; *file.yaml#Field works too')
    .option('--ttl <ms>', 'how long the record is valid and republished (-1: forever)', parseTtl, -1)
    .action(async (clusterArg: string, key: string, value: string, opts: { ttl: number }, self: Command) => {
      const [name, seed, v] = [await substituteId(clusterArg), await substituteId(key), await substituteId(value)];
      const pointer = await withDaemon(self, (c) => c.call('POINTERSET', name, seed, v, String(opts.ttl)));
      await write(`${bytes(pointer, 'POINTERSET').toString()}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross pointer_set "*clusters/my_cluster.yaml#Name" "*keys/me.yaml#PrivateKey" QmbTz9…']);
}

function pointerLookup(): Command {
  const cmd = new Command('pointer_lookup')
    .summary('print the newest value of a pointer')
    .description('Find the newest signed value published under a pointer name in the cluster and print its raw bytes (a newline is added only on a terminal). Exits 1 if there is none at --generation or later.')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<name>', 'the pointer name (a key pair\'s Name), or *keys/file.yaml#Name')
    .option('--generation <g>', 'only a value of this generation or later', parseGeneration, 0)
    .action(async (clusterArg: string, nameArg: string, opts: { generation: number }, self: Command) => {
      const [cluster, name] = [await substituteId(clusterArg), await substituteId(nameArg)];
      const found = await withDaemon(self, (c) => c.call('POINTERLOOKUP', cluster, name, String(opts.generation)));
      if (found === null) throw new CliFailure(EXIT.no, `no value of ${name} at generation ${opts.generation} or later`);
      if (!Array.isArray(found)) throw new CliFailure(EXIT.server, `unexpected reply to POINTERLOOKUP: ${JSON.stringify(found)}`);
      await writeValue(bytes(found[0], 'POINTERLOOKUP'));
    });
  return examples(clientCommand(cmd), ['crisscross pointer_lookup "*clusters/my_cluster.yaml#Name" "*keys/me.yaml#Name"']);
}

export function pointerCommands(): Command[] {
  return [pointerSet(), pointerLookup()];
}
