import { Command } from 'commander';
import { keyText, newKeyPair, newSecret } from '../net/identity.ts';
import { bytes, clientCommand, examples, ID_HELP, integer, list, parseCount, parseTtl, withDaemon, write } from './common.ts';
import { persistWithProgress } from './clone-progress.ts';
import { CliFailure, EXIT } from './exit.ts';
import { substituteId } from './substitute.ts';

export const CLUSTER_HELP = 'a cluster Name, *clusters/file.yaml#Name, or ^defaultcluster (the default overlay)';

/**
 * Generated locally, like the daemon's CLUSTER and KEYPAIR: making keys needs no running daemon.
 * The cluster file module is loaded on demand: it brings the YAML and multiaddr libraries, which
 * every other command would otherwise load at start (a third of the CLI's start-up).
 */
const clusterFiles = (): Promise<typeof import('../net/cluster-file.ts')> => import('../net/cluster-file.ts');

function cluster(): Command {
  const cmd = new Command('cluster')
    .summary('print a new cluster definition (YAML)')
    .description(
      'Print a new cluster: a Cypher and an Ed25519 key pair from the CSPRNG, the derived Name, MaxTTL and MaxAcceptedSize. ' +
        'Save it in the clusters dir of every member (the daemon picks it up without a restart); members that must not push get it without PrivateKey. ' +
        'Add Bootstrap: (multiaddrs of members) and Port: as needed.',
    )
    .action(async () => {
      const { newCluster, renderCluster } = await clusterFiles();
      write(renderCluster(newCluster()));
    });
  return examples(cmd, ['crisscross cluster > clusters/my_cluster.yaml']);
}

function keypair(): Command {
  const cmd = new Command('keypair')
    .summary('print a new Ed25519 key pair (YAML)')
    .description('Print a new Ed25519 key pair from the CSPRNG: Name (its pointer name), PublicKey and PrivateKey, base58.')
    .action(async () => write((await clusterFiles()).renderKeyPair(newKeyPair())));
  return examples(cmd, ['crisscross keypair > keys/me.yaml']);
}

function nodeSecret(): Command {
  const cmd = new Command('node_secret')
    .summary('print a new node secret (YAML)')
    .description(
      'Print a new node secret. The daemon derives its peer identity in every cluster from it; it makes one on first start ' +
        '(DATA_DIR/node_secret, mode 0600) unless NODE_SECRET is set to such a value.',
    )
    .action(() => write(`NodeSecret: ${keyText(newSecret())}\n`));
  return examples(cmd, ['NODE_SECRET=$(crisscross node_secret | cut -d" " -f2) crisscross serve']);
}

function announce(): Command {
  const cmd = new Command('announce')
    .summary('serve a local tree to a cluster')
    .description('Provide a tree on the cluster\'s DHT and serve it (links included) to its members for --ttl ms; the tree is pinned here as long.')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<tree>', ID_HELP)
    .option('--ttl <ms>', 'how long to announce and pin (-1: forever)', parseTtl, -1)
    .action(async (clusterArg: string, tree: string, opts: { ttl: number }, self: Command) => {
      const [name, root] = [await substituteId(clusterArg), await substituteId(tree)];
      await withDaemon(self, (c) => c.call('ANNOUNCE', name, root, String(opts.ttl)));
    });
  return examples(clientCommand(cmd), ['crisscross announce "*clusters/my_cluster.yaml#Name" QmbTz9…']);
}

function remoteGet(): Command {
  const cmd = new Command('remote_get')
    .summary('print a key of a tree another member serves')
    .description(
      'Read one key of a tree announced in the cluster, fetching only the blocks on its path from up to --num providers and keeping those below ' +
        'the root here (unpinned, until a collection) unless --no-local. Exits 1 if the key is missing.',
    )
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<tree>', ID_HELP)
    .argument('<key>', 'the key')
    .option('--num <n>', 'providers to use at once', parseCount, 1)
    .option('--no-local', 'keep fetched blocks in memory only (REMOTENOLOCAL)')
    .action(async (clusterArg: string, tree: string, key: string, opts: { num: number; local: boolean }, self: Command) => {
      const [name, root] = [await substituteId(clusterArg), await substituteId(tree)];
      const value = await withDaemon(self, (c) => c.call(opts.local ? 'REMOTE' : 'REMOTENOLOCAL', name, String(opts.num), 'FETCHBIN', root, key));
      if (value === null) throw new CliFailure(EXIT.no, `key not found: ${key}`);
      await write(bytes(value, 'REMOTE FETCHBIN'));
    });
  return examples(clientCommand(cmd), ['crisscross remote_get "*clusters/my_cluster.yaml#Name" QmbTz9… hello']);
}

function remotePersist(): Command {
  const cmd = new Command('remote_persist')
    .summary('clone a tree from the cluster')
    .description(
      'Fetch every block of a tree announced in the cluster (links included) from up to --num providers at once, store it here and pin it for --ttl ms. ' +
        'What is already here is not fetched again. On a terminal, a progress line on stderr shows the bytes fetched against the tree\'s size.',
    )
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<tree>', ID_HELP)
    .option('--num <n>', 'providers to use at once', parseCount, 4)
    .option('--ttl <ms>', 'pin the clone this long (-1: forever)', parseTtl, -1)
    .action(async (clusterArg: string, tree: string, opts: { num: number; ttl: number }, self: Command) => {
      const [name, root] = [await substituteId(clusterArg), await substituteId(tree)];
      const args = { cluster: name, num: opts.num, root, ttl: opts.ttl, label: tree };
      // The progress line needs a second connection, opened only when there is a terminal to draw on.
      const report = list(await withDaemon(self, (c) => (process.stderr.isTTY ? withDaemon(self, (w) => persistWithProgress(c, w, args)) : persistWithProgress(c, undefined, args))), 'REMOTE PERSIST');
      const field = (k: string): number => integer(report[report.findIndex((r) => Buffer.isBuffer(r) && r.toString() === k) + 1], 'REMOTE PERSIST');
      await write(`${root}: ${field('blocks')} blocks, ${field('fetched')} fetched (${field('bytes')} bytes)\n`);
    });
  return examples(clientCommand(cmd), ['crisscross remote_persist --num 4 "*clusters/my_cluster.yaml#Name" QmbTz9…']);
}

function push(): Command {
  const cmd = new Command('push')
    .summary('ask the closest members to store a local tree')
    .description(
      'Ask the members closest to the tree on the cluster\'s DHT to clone it and pin it for --ttl ms (needs the cluster\'s PrivateKey in this daemon\'s file). ' +
        'Each refuses a ttl over its MaxTTL or a tree over its MaxAcceptedSize; the daemon logs why. Prints how many accepted; exits 1 if none did.',
    )
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<tree>', ID_HELP)
    .requiredOption('--ttl <ms>', 'how long the receivers pin it', parseTtl)
    .action(async (clusterArg: string, tree: string, opts: { ttl: number }, self: Command) => {
      const [name, root] = [await substituteId(clusterArg), await substituteId(tree)];
      const accepted = integer(await withDaemon(self, (c) => c.call('PUSH', name, root, String(opts.ttl))), 'PUSH');
      await write(`${root}: accepted by ${accepted} peer${accepted === 1 ? '' : 's'}\n`);
      if (accepted === 0) throw new CliFailure(EXIT.no, 'no peer accepted the push (see the daemon log for their reasons)');
    });
  return examples(clientCommand(cmd), ['crisscross push "*clusters/my_cluster.yaml#Name" QmbTz9… --ttl 86400000']);
}

export function clusterCommands(): Command[] {
  return [cluster(), keypair(), nodeSecret(), announce(), remoteGet(), remotePersist(), push()];
}
