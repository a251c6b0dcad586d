import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Dispatcher } from '../../src/commands/dispatch.ts';
import { buildCommands } from '../../src/commands/index.ts';
import { RespServer } from '../../src/resp/server.ts';
import { type BlockStore, openStore } from '../../src/store/index.ts';

/** An in-process daemon (real LevelDB in a temp dir, real TCP on 127.0.0.1) and an ioredis client. */
export interface TreeServer {
  store: BlockStore;
  dispatcher: Dispatcher;
  redis: Redis;
  port: number;
  close(): Promise<void>;
}

export async function startTreeServer(): Promise<TreeServer> {
  const dir = await mkdtemp(join(tmpdir(), 'crisscross-cmd-'));
  const logger = pino({ level: 'silent' });
  const store = await openStore(dir, { logger });
  const { dispatcher, info } = buildCommands({ store, logger });
  const server = new RespServer({ host: '127.0.0.1', port: 0, dispatcher, logger, info });
  const { port } = await server.listen();
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  return {
    store,
    dispatcher,
    redis,
    port,
    async close() {
      redis.disconnect();
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
