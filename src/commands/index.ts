import type { Logger } from 'pino';
import type { InfoSource } from '../resp/server.ts';
import type { BlockStore } from '../store/blockstore.ts';
import { Vars } from '../store/vars.ts';
import { Trees } from '../tree/index.ts';
import { CommandRegistry } from './registry.ts';
import { SqlEngine } from '../sql/index.ts';
import { serverCommands } from './server.ts';
import { sqlCommands } from './sql.ts';
import { treeCommands } from './tree.ts';

export interface Commands {
  registry: CommandRegistry;
  /** INFO sections of the layers behind the commands. */
  info: InfoSource[];
}

/** The daemon's whole command set: what dispatch, COMMAND DOCS and the README reference share. */
export function buildCommands(deps: { store: BlockStore; logger: Logger; cacheBytes?: number }): Commands {
  const trees = new Trees(deps.store, { cacheBytes: deps.cacheBytes });
  const registry = new CommandRegistry();
  const vars = new Vars(deps.store);
  const sql = new SqlEngine(trees, deps.logger);
  registry.register(
    ...serverCommands({ registry, logger: deps.logger }),
    ...treeCommands({ trees, vars }),
    ...sqlCommands({ trees, vars, sql }),
  );
  const store: InfoSource = {
    section: 'store',
    fields: () => [
      ...deps.store.info(),
      ['tree_cache_bytes', trees.loader.cachedBytes],
      ['tree_cache_hits', trees.loader.hits],
      ['tree_cache_misses', trees.loader.misses],
    ],
  };
  return { registry, info: [store, { section: 'sql', fields: () => sql.info() }] };
}
