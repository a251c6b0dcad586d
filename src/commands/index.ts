import type { Logger } from 'pino';
import type { Collector } from '../gc/collector.ts';
import type { Network } from '../net/network.ts';
import { Broker } from '../pubsub/broker.ts';
import { StreamHub } from '../pubsub/stream.ts';
import type { InfoSource } from '../resp/server.ts';
import type { BlockStore } from '../store/blockstore.ts';
import { Vars } from '../store/vars.ts';
import { Trees } from '../tree/index.ts';
import { SqlEngine } from '../sql/index.ts';
import { clusterNetCommands } from './cluster-net.ts';
import { clusterFileCommands } from './cluster.ts';
import { fileCommands } from './files.ts';
import { gcCommands } from './gc.ts';
import { type JobCommandDeps, jobChannels, jobCommands } from './jobs.ts';
import { JobQueues } from '../jobs/queue.ts';
import type { RemoteJobs } from '../jobs/remote.ts';
import { pointerCommands } from './pointers.ts';
import { pubsubCommands } from './pubsub.ts';
import { streamCommands } from './streams.ts';
import { Dispatcher } from './dispatch.ts';
import { pushCommands } from './push.ts';
import { CommandRegistry } from './registry.ts';
import { serverCommands } from './server.ts';
import { sqlCommands } from './sql.ts';
import { treeCommands } from './tree.ts';
import { tunnelCommands } from './tunnels.ts';
import { varWithCommand } from './vars.ts';

export interface Commands {
  registry: CommandRegistry;
  /** What every front-end runs commands through. */
  dispatcher: Dispatcher;
  /** INFO sections of the layers behind the commands. */
  info: InfoSource[];
}

/** The daemon's whole command set: what dispatch, COMMAND DOCS and the README reference share. */
export function buildCommands(deps: { store: BlockStore; collector: Collector; logger: Logger; cacheBytes?: number; net?: Network; broker?: Broker; hub?: StreamHub; jobs?: JobQueues; remoteJobs?: RemoteJobs }): Commands {
  const broker = deps.broker ?? new Broker();
  const hub = deps.hub ?? new StreamHub(deps.logger.child({ module: 'streams' }));
  const streams = streamCommands({ broker, hub, net: deps.net });
  const trees = new Trees(deps.store, deps.store, { cacheBytes: deps.cacheBytes });
  const registry = new CommandRegistry();
  const vars = new Vars(deps.store);
  const sql = new SqlEngine(trees, deps.logger);
  const dispatcher = new Dispatcher(registry, deps.logger.child({ module: 'commands' }));
  const queues = deps.jobs ?? new JobQueues();
  const net = deps.net;
  const jobDeps: JobCommandDeps = net === undefined ? { queues } : { queues, net, key: (name) => net.keys.get(name), ...(deps.remoteJobs !== undefined ? { remote: deps.remoteJobs } : {}) };
  const netDeps = { trees, vars, net: deps.net, store: deps.store, logger: deps.logger.child({ module: 'net' }), jobs: jobDeps };
  registry.register(
    ...serverCommands({ registry, logger: deps.logger }),
    ...treeCommands({ trees, vars }),
    varWithCommand(dispatcher),
    ...fileCommands({ trees, vars, blobs: deps.store }),
    ...gcCommands({ trees, vars, collector: deps.collector }),
    ...sqlCommands({ trees, vars, sql }),
    ...clusterFileCommands(),
    ...pubsubCommands({ broker, channels: jobChannels(jobDeps) }),
    ...streams.specs,
    ...jobCommands(jobDeps),
    ...clusterNetCommands({ ...netDeps, sql, remote: streams.remote }),
    ...pointerCommands({ net: deps.net }),
    ...pushCommands(netDeps),
    ...tunnelCommands({ net: deps.net }),
  );
  const store: InfoSource = {
    section: 'store',
    fields: () => [
      ...deps.store.info(),
      ...deps.collector.info(),
      ['tree_cache_bytes', trees.loader.cachedBytes],
      ['tree_cache_hits', trees.loader.hits],
      ['tree_cache_misses', trees.loader.misses],
    ],
  };
  const remoteJobs = deps.remoteJobs;
  const info = [store, { section: 'sql', fields: () => sql.info() }, { section: 'pubsub', fields: () => [...broker.info(), ...hub.info()] }, { section: 'jobs', fields: () => [...queues.info(), ...(remoteJobs?.info() ?? [])] }];
  if (net !== undefined) info.push({ section: 'cluster', fields: () => net.info() }, { section: 'tunnels', fields: () => net.tunnelInfo() });
  return { registry, dispatcher, info };
}
