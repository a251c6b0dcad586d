import { newCluster, renderCluster, renderKeyPair } from '../net/cluster-file.ts';
import { newKeyPair } from '../net/identity.ts';
import type { CommandSpec } from './spec.ts';

/** Making clusters and key pairs: what a user puts in the clusters and keys dirs. */
export function clusterFileCommands(): CommandSpec[] {
  return [
    {
      name: 'CLUSTER', arity: 1, flags: ['fast'], group: 'cluster', since: '0.3.0',
      summary: 'Creates a new cluster (Cypher and key pair from the CSPRNG) and returns its YAML definition.',
      arguments: [],
      reply: 'Bulk string: YAML with Name, Cypher, PublicKey, PrivateKey, MaxTTL, MaxAcceptedSize (docs/format.md §15). Save it in the clusters dir of every member; drop PrivateKey for members that must not push.',
      handler: (ctx) => ctx.reply.bulk(renderCluster(newCluster())),
    },
    {
      name: 'KEYPAIR', arity: 1, flags: ['fast'], group: 'cluster', since: '0.3.0',
      summary: 'Creates a new Ed25519 key pair and returns it as YAML.',
      arguments: [],
      reply: 'Bulk string: YAML with Name (the pointer name of the key), PublicKey and PrivateKey, all base58.',
      handler: (ctx) => ctx.reply.bulk(renderKeyPair(newKeyPair())),
    },
  ];
}
