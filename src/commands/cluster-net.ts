import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import type { Network } from '../net/network.ts';
import { BlockCache, Providers, RemoteSource, clone } from '../net/remote.ts';
import type { SqlEngine } from '../sql/index.ts';
import type { BlockStore } from '../store/blockstore.ts';
import { idToText } from '../store/id.ts';
import { Trees, pinUntil } from '../tree/index.ts';
import { type TreeDeps, intArg, rootOf, treeArg, ttlArg } from './args.ts';
import { Dispatcher } from './dispatch.ts';
import { fileCommands } from './files.ts';
import { type JobCommandDeps, remoteJobDo } from './jobs.ts';
import { CommandRegistry } from './registry.ts';
import type { ArgumentDoc, CommandContext, CommandSpec } from './spec.ts';
import type { RemoteHandler } from './streams.ts';
import { sqlCommands } from './sql.ts';
import { treeCommands } from './tree.ts';

export interface ClusterNetDeps extends TreeDeps {
  /** Absent in an in-process command set without networking (tests of other families). */
  net: Network | undefined;
  store: BlockStore;
  logger: Logger;
  /** REMOTE forms that are not tree reads (STREAMSTART, PUBLISH), by upper-case name. */
  remote?: ReadonlyMap<string, RemoteHandler>;
  /** What REMOTE … JOBDO runs through. */
  jobs?: JobCommandDeps;
  /** Runs REMOTE … SQLREAD; absent, REMOTE refuses SQLREAD like any command it does not run. */
  sql?: SqlEngine;
}

export const CLUSTER: ArgumentDoc = { name: 'cluster', type: 'string', display_text: 'cluster' };
const TREE: ArgumentDoc = { name: 'tree', type: 'key', display_text: 'tree' };
export const TTL: ArgumentDoc = { name: 'ttl', type: 'integer', display_text: 'ttl' };
const REMOTE_ARGS: ArgumentDoc[] = [CLUSTER, { name: 'num', type: 'integer' }, { name: 'command', type: 'string' }, TREE, { name: 'arg', type: 'string', optional: true, multiple: true }];

/**
 * The read commands REMOTE runs on a remote tree (PERSIST, a clone, is handled apart). ITERSTART
 * opens the connection's iterator over the remote tree: the plain ITERNEXT then fetches as it goes.
 */
export const REMOTE_READS = new Set([
  'FETCH', 'FETCHBIN', 'GETMULTI', 'GETMULTIBIN', 'HASKEY', 'HASKEYBIN', 'KEYCOUNT', 'BYTESWRITTEN', 'DIFF', 'FILESIZE', 'FILEREAD', 'DIRLIST',
  'ITERSTART', 'SCANTREE', 'SCANTREEBIN', 'SQLREAD',
]);
const MAX_PROVIDERS = 64;

export function networkOf(deps: Pick<ClusterNetDeps, 'net'>): Network {
  if (deps.net === undefined) throw new CrissError('NOCLUSTER', 'this daemon runs no cluster network');
  return deps.net;
}

/** A cluster argument: a Name, or `^defaultcluster` for the default overlay. */
export function clusterArg(deps: Pick<ClusterNetDeps, 'net'>, arg: Uint8Array): string {
  return networkOf(deps).resolve(Buffer.from(arg).toString('latin1'));
}

/** The read commands, built over trees whose blocks come from the cluster (local ones first). */
function remoteDispatcher(deps: ClusterNetDeps, trees: Trees): Dispatcher {
  const registry = new CommandRegistry();
  const remote = { trees, vars: deps.vars };
  const engine = deps.sql;
  // The statements run here, over the local engine; only the blocks they touch come from peers.
  const sql = engine === undefined ? [] : sqlCommands({ ...remote, sql: { run: (root, sqls, opts) => engine.run(root, sqls, { ...opts, trees }) } });
  registry.register(...[...treeCommands(remote), ...fileCommands({ ...remote, blobs: deps.store }), ...sql].filter((s) => REMOTE_READS.has(s.name)));
  return new Dispatcher(registry, deps.logger);
}

export function clusterNetCommands(deps: ClusterNetDeps): CommandSpec[] {
  const caches = new Map<string, BlockCache>();
  const cacheOf = (cluster: string): BlockCache => {
    let c = caches.get(cluster);
    if (c === undefined) caches.set(cluster, (c = new BlockCache()));
    return c;
  };
  return [
    {
      name: 'ANNOUNCE', arity: 4, flags: ['write', 'blocking'], group: 'cluster', since: '0.3.0',
      summary: 'Provides a local tree on the cluster\'s DHT, and serves it (links included) to members, for ttl ms.',
      arguments: [CLUSTER, TREE, TTL],
      reply: 'Simple string OK. The tree is pinned here for ttl ms too (-1 forever); the announcement survives restarts. NOCLUSTER when no cluster file has that Name.',
      handler: async (ctx) => {
        const cluster = clusterArg(deps, ctx.args[0]);
        const ttl = ttlArg(ctx.args[2]);
        if (ttl === 0) throw new CrissError('ERR', 'ANNOUNCE needs a TTL: milliseconds, or -1 for forever');
        const net = networkOf(deps);
        net.node(cluster);
        const root = await rootOf(deps, ctx.args[1]);
        await deps.trees.persist(root, ttl);
        await net.announce(cluster, root.id, pinUntil(ttl) as number);
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'HASANNOUNCED', arity: 3, flags: ['readonly', 'fast'], group: 'cluster', since: '0.3.0',
      summary: 'Tells whether this node announces a tree in a cluster right now.',
      arguments: [CLUSTER, TREE],
      reply: 'Integer: 1 while an announcement of it is live, 0 otherwise.',
      handler: async (ctx) => {
        const cluster = clusterArg(deps, ctx.args[0]);
        ctx.reply.integer(networkOf(deps).hasAnnounced(cluster, await treeArg(deps, ctx.args[1])) ? 1 : 0);
      },
    },
    {
      name: 'REMOTE', arity: -5, flags: ['blocking'], group: 'cluster', since: '0.3.0',
      summary: 'Runs a read command on a tree of the cluster, fetching only the blocks it needs from up to num providers at once (keeping all but the root here, unpinned, for later reads and clones); REMOTE … PERSIST tree ttl clones it.',
      arguments: REMOTE_ARGS,
      reply: `Whatever the command replies (${[...REMOTE_READS].join(', ')}); for PERSIST, a map of blocks, fetched, bytes. MISSINGBLOCK when no provider has a block the read needs.`,
      handler: (ctx) => remote(ctx, true),
    },
    {
      name: 'REMOTENOLOCAL', arity: -5, flags: ['blocking'], group: 'cluster', since: '0.3.0',
      summary: 'Like REMOTE, but fetched blocks stay in a bounded memory cache (64 MiB per cluster) and are never written to the local store.',
      arguments: REMOTE_ARGS,
      reply: `Whatever the command replies (${[...REMOTE_READS].join(', ')}). PERSIST is refused: a clone stores.`,
      handler: (ctx) => remote(ctx, false),
    },
  ];

  async function remote(ctx: CommandContext, keep: boolean): Promise<void> {
    const [clusterWord, numWord, cmd, treeWord, ...rest] = ctx.args;
    const cluster = clusterArg(deps, clusterWord);
    const num = intArg(numWord, 'num', 1, MAX_PROVIDERS);
    const net = networkOf(deps);
    net.node(cluster);
    if (Buffer.from(cmd).toString('latin1').toUpperCase() === 'JOBDO' && keep && deps.jobs !== undefined) return remoteJobDo(deps.jobs, ctx, cluster, num, [treeWord, ...rest]);
    const other = deps.remote?.get(Buffer.from(cmd).toString('latin1').toUpperCase());
    if (other !== undefined) return other(ctx, clusterWord, num, ctx.args.slice(3));
    const root = await treeArg(deps, treeWord);
    const providers = new Providers(net, cluster, root, num, deps.logger);
    const name = Buffer.from(cmd).toString('latin1').toUpperCase();
    if (name === 'PERSIST' && !keep) throw new CrissError('ERR', 'REMOTENOLOCAL does not clone: use REMOTE … PERSIST');
    if (name === 'PERSIST') {
      const source = new RemoteSource(deps.store, providers, cacheOf(cluster));
      if (rest.length !== 1) throw new CrissError('ERR', 'REMOTE … PERSIST takes a tree and a ttl');
      const until = pinUntil(ttlArg(rest[0]));
      deps.logger.info({ cluster, root: idToText(root), num }, 'clone started');
      const r = await clone(deps.store, source, root, until);
      deps.logger.info({ cluster, root: idToText(root), ...r }, 'clone finished');
      ctx.reply.map(3);
      ctx.reply.bulk('blocks');
      ctx.reply.integer(r.blocks);
      ctx.reply.bulk('fetched');
      ctx.reply.integer(r.fetched);
      ctx.reply.bulk('bytes');
      ctx.reply.integer(r.bytes);
      return;
    }
    const source = new RemoteSource(deps.store, providers, cacheOf(cluster), keep ? root : undefined);
    const trees = new Trees(source, deps.store, { cacheBytes: 16 * 1024 * 1024 });
    const refused = (): CrissError => new CrissError('ERR', `${keep ? 'REMOTE' : 'REMOTENOLOCAL'} runs ${[...REMOTE_READS].join(', ')}${keep ? ' and PERSIST' : ''}, not '${name.toLowerCase().slice(0, 64)}'`);
    await remoteDispatcher(deps, trees).invoke([cmd, treeWord, ...rest], ctx, (s) => REMOTE_READS.has(s.name), refused);
  }
}
