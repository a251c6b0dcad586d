import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Collector } from '../../src/gc/collector.ts';
import { BlockStore } from '../../src/store/blockstore.ts';
import { type Id, idKey } from '../../src/store/id.ts';
import { isRefAt, refId } from '../../src/tree/blob.ts';
import { Trees } from '../../src/tree/index.ts';

export const logger = pino({ level: 'silent' });

/** A real store in a temp dir, trees over it, and a collector run only on request. */
export interface Env {
  dir: string;
  store: BlockStore;
  trees: Trees;
  gc: Collector;
  close(): Promise<void>;
}

export async function openEnv(graceMs = 0): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'crisscross-gc-'));
  const store = await BlockStore.open(dir, logger);
  return {
    dir,
    store,
    trees: new Trees(store, store, { cacheBytes: 1024 * 1024 }),
    gc: new Collector(store, { graceMs, intervalMs: 0, logger }),
    async close() {
      await store.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every node and blob id a root reaches (links followed), read through a cold path. */
export async function reachable(env: Env, root: Id): Promise<Set<string>> {
  const out = new Set<string>();
  const fresh = new Trees(env.store, env.store, { cacheBytes: 1024 * 1024 });
  for await (const node of fresh.walk(root, { followLinks: true })) {
    // The empty tree needs no block: every node knows it.
    if (node.length > 0) out.add(idKey(node.id));
    if (node.level === 0) for (let i = 0; i < node.length; i++) if (isRefAt(node.val(i), 0)) out.add(idKey(refId(node.val(i))));
  }
  return out;
}

/** `reachable`, plus the keyframes its nodes are stored against: what the collector must keep (docs/format.md §8.1). */
export async function kept(env: Env, root: Id): Promise<Set<string>> {
  const out = await reachable(env, root);
  const ids: Id[] = [];
  for await (const node of new Trees(env.store, env.store, { cacheBytes: 1024 * 1024 }).walk(root, { followLinks: true })) if (node.length > 0) ids.push(node.id);
  for (const n of await env.store.readNodes(ids)) if (n !== undefined && n.keyframe !== null) out.add(idKey(n.keyframe));
  return out;
}

/** Ids of every node and blob in the store. */
export async function stored(store: BlockStore): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const n of store.nodeLocations()) out.add(idKey(n.id));
  for await (const b of store.blobLocations()) out.add(idKey(b.id));
  return out;
}
