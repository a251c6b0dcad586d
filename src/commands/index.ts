import type { Logger } from 'pino';
import type { Collector } from '../gc/collector.ts';
import type { Network } from '../net/network.ts';
import type { InfoSource } from '../resp/server.ts';
import type { BlockStore } from '../store/blockstore.ts';
import { Vars } from '../store/vars.ts';
import { Trees } from '../tree/index.ts';
import { SqlEngine } from '../sql/index.ts';
import { clusterNetCommands } from './cluster-net.ts';
import { clusterFileCommands } from './cluster.ts';
import { fileCommands } from './files.ts';
import { gcCommands } from './gc.ts';
import { pointerCommands } from './pointers.ts';
import { Dispatcher } from './dispatch.ts';
import { CommandRegistry } from './registry.ts';
import { serverCommands } from './server.ts';
import { sqlCommands } from './sql.ts';
import { treeCommands } from './tree.ts';
import { varWithCommand } from './vars.ts';

export interface Commands {
  registry: CommandRegistry;
  /** What every front-end runs commands through. */
  dispatcher: Dispatcher;
  /** INFO sections of the layers behind the commands. */
  info: InfoSource[];
}

/** The daemon's whole command set: what dispatch, COMMAND DOCS and the README reference share. */
export function buildCommands(deps: { store: BlockStore; collector: Collector; logger: Logger; cacheBytes?: number; net?: Network }): Commands {
  const trees = new Trees(deps.store, deps.store, { cacheBytes: deps.cacheBytes });
  const registry = new CommandRegistry();
  const vars = new Vars(deps.store);
  const sql = new SqlEngine(trees, deps.logger);
  const dispatcher = new Dispatcher(registry, deps.logger.child({ module: 'commands' }));
  registry.register(
    ...serverCommands({ registry, logger: deps.logger }),
    ...treeCommands({ trees, vars }),
    varWithCommand(dispatcher),
    ...fileCommands({ trees, vars, blobs: deps.store }),
    ...gcCommands({ trees, vars, collector: deps.collector }),
    ...sqlCommands({ trees, vars, sql }),
    ...clusterFileCommands(),
    ...clusterNetCommands({ trees, vars, sql, net: deps.net, store: deps.store, logger: deps.logger.child({ module: 'net' }) }),
    ...pointerCommands({ net: deps.net }),
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
  const info = [store, { section: 'sql', fields: () => sql.info() }];
  const net = deps.net;
  if (net !== undefined) info.push({ section: 'cluster', fields: () => net.info() });
  return { registry, dispatcher, info };
}
