import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { buildCommands } from '../../src/commands/index.ts';
import { Collector } from '../../src/gc/collector.ts';
import { RespServer } from '../../src/resp/server.ts';
import { type BlockStore, openStore } from '../../src/store/index.ts';

/** An in-process daemon (real LevelDB in a temp dir, real TCP on 127.0.0.1) and an ioredis client. */
export interface TreeServer {
  store: BlockStore;
  collector: Collector;
  redis: Redis;
  port: number;
  close(): Promise<void>;
}

/** Garbage collection only on request, with the grace period given (default: none). */
export async function startTreeServer(opts: { gcGraceMs?: number } = {}): Promise<TreeServer> {
  const dir = await mkdtemp(join(tmpdir(), 'crisscross-cmd-'));
  const logger = pino({ level: 'silent' });
  const store = await openStore(dir, { logger });
  const collector = new Collector(store, { graceMs: opts.gcGraceMs ?? 0, intervalMs: 0, logger });
  const { registry, info } = buildCommands({ store, collector, logger });
  const server = new RespServer({ host: '127.0.0.1', port: 0, registry, logger, info });
  const { port } = await server.listen();
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  return {
    store,
    collector,
    redis,
    port,
    async close() {
      redis.disconnect();
      await collector.stop();
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
