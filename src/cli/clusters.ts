import { Command } from 'commander';
import { newCluster, renderCluster, renderKeyPair } from '../net/cluster-file.ts';
import { keyText, newKeyPair, newSecret } from '../net/identity.ts';
import { examples, write } from './common.ts';

/** Generated locally, like the daemon's CLUSTER and KEYPAIR: making keys needs no running daemon. */
function cluster(): Command {
  const cmd = new Command('cluster')
    .summary('print a new cluster definition (YAML)')
    .description(
      'Print a new cluster: a Cypher and an Ed25519 key pair from the CSPRNG, the derived Name, MaxTTL and MaxAcceptedSize. ' +
        'Save it in the clusters dir of every member (the daemon picks it up without a restart); members that must not push get it without PrivateKey. ' +
        'Add Bootstrap: (multiaddrs of members) and Port: as needed.',
    )
    .action(() => write(renderCluster(newCluster())));
  return examples(cmd, ['crisscross cluster > clusters/my_cluster.yaml']);
}

function keypair(): Command {
  const cmd = new Command('keypair')
    .summary('print a new Ed25519 key pair (YAML)')
    .description('Print a new Ed25519 key pair from the CSPRNG: Name (its pointer name), PublicKey and PrivateKey, base58.')
    .action(() => write(renderKeyPair(newKeyPair())));
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

export function clusterCommands(): Command[] {
  return [cluster(), keypair(), nodeSecret()];
}
