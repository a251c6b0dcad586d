import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Dispatcher } from '../../src/commands/dispatch.ts';
import { buildCommands } from '../../src/commands/index.ts';
import { Collector } from '../../src/gc/collector.ts';
import { RespServer } from '../../src/resp/server.ts';
import { type BlockStore, openStore } from '../../src/store/index.ts';

/** An in-process daemon (real LevelDB in a temp dir, real TCP on 127.0.0.1) and an ioredis client. */
export interface TreeServer {
  store: BlockStore;
  collector: Collector;
  dispatcher: Dispatcher;
  redis: Redis;
  port: number;
  /** Sends a raw command; resolves to the reply or to the error text (`ERROR CODE message`). */
  call(...args: Array<string | Buffer | number>): Promise<unknown>;
  close(): Promise<void>;
}

/** Garbage collection only on request, with the grace period given (default: none); `cacheBytes` bounds the node cache. */
export async function startTreeServer(opts: { gcGraceMs?: number; cacheBytes?: number } = {}): Promise<TreeServer> {
  const dir = await mkdtemp(join(tmpdir(), 'crisscross-cmd-'));
  const logger = pino({ level: 'silent' });
  const store = await openStore(dir, { logger });
  const collector = new Collector(store, { graceMs: opts.gcGraceMs ?? 0, intervalMs: 0, logger });
  const { dispatcher, info } = buildCommands({ store, collector, logger, cacheBytes: opts.cacheBytes });
  const server = new RespServer({ host: '127.0.0.1', port: 0, dispatcher, logger, info });
  const { port } = await server.listen();
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  return {
    store,
    collector,
    dispatcher,
    redis,
    port,
    async call(...args) {
      try {
        return await redis.callBuffer(String(args[0]), ...args.slice(1).map((a) => (typeof a === 'number' ? String(a) : a)));
      } catch (e) {
        return `ERROR ${(e as Error).message}`;
      }
    },
    async close() {
      redis.disconnect();
      await collector.stop();
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Replies with bulk strings as text, recursively, for comparisons. */
export const text = (v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString() : Array.isArray(v) ? v.map(text) : v);
