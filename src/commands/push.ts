import { CrissError } from '../errors.ts';
import { PUSH_PEERS, pushKey, pushTree, treeSize } from '../net/push-transfer.ts';
import { pinUntil } from '../tree/index.ts';
import { rootOf, ttlArg } from './args.ts';
import { type ClusterNetDeps, clusterArg, networkOf } from './cluster-net.ts';
import type { CommandSpec } from './spec.ts';

export function pushCommands(deps: ClusterNetDeps): CommandSpec[] {
  return [
    {
      name: 'PUSH', arity: 4, flags: ['write', 'blocking'], group: 'cluster', since: '0.3.0',
      summary: 'Asks the members closest to a local tree on the cluster\'s DHT to store it for ttl ms; needs the cluster\'s PrivateKey.',
      arguments: [
        { name: 'cluster', type: 'string', display_text: 'cluster' },
        { name: 'tree', type: 'key', display_text: 'tree' },
        { name: 'ttl', type: 'integer', display_text: 'ttl' },
      ],
      reply: `Integer: how many of the (up to ${PUSH_PEERS}) closest peers cloned, pinned and announced it. Each receiver refuses a ttl over its MaxTTL or a tree over its MaxAcceptedSize (per push); refusals are logged here with their reason. The tree is announced and pinned here for ttl ms too. NOKEY without the PrivateKey.`,
      handler: async (ctx) => {
        const cluster = clusterArg(deps, ctx.args[0]);
        const ttl = ttlArg(ctx.args[2]);
        if (ttl <= 0) throw new CrissError('ERR', 'PUSH needs a TTL in milliseconds: receivers pin the tree that long, up to their MaxTTL');
        const net = networkOf(deps);
        pushKey(net.node(cluster));
        const root = await rootOf(deps, ctx.args[1]);
        // Before announcing anything: a tree not held whole here cannot be pushed.
        const size = await treeSize(deps.store, root.id);
        // Receivers clone from this node first, and it serves only what it announces.
        await deps.trees.persist(root, ttl);
        await net.announce(cluster, root.id, pinUntil(ttl) as number);
        const r = await pushTree(net, cluster, root.id, ttl, size, deps.logger);
        ctx.reply.integer(r.accepted);
      },
    },
  ];
}
