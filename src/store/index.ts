import type { Logger } from 'pino';
import { BlockStore } from './blockstore.ts';

export { BlockStore, FOREVER, type WriteSet } from './blockstore.ts';
export { type Id, idOf, idToText, parseId } from './id.ts';
export { Vars } from './vars.ts';

export function openStore(dataDir: string, opts: { logger: Logger; directIo?: boolean }): Promise<BlockStore> {
  return BlockStore.open(dataDir, opts.logger, { direct: opts.directIo });
}
