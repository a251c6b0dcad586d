import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { type Cluster, renderCluster } from '../../src/net/cluster-file.ts';
import type { TestDaemon } from '../harness/daemon.ts';

/** The `INFO cluster` line of one cluster, parsed (`listen=…,peers=…`), or undefined while it is not running. */
export async function clusterInfo(redis: Redis, name: string): Promise<Record<string, string> | undefined> {
  const text = String(await redis.call('INFO', 'cluster'));
  const line = text.split('\r\n').find((l) => l.startsWith(`${name}:`));
  if (line === undefined) return undefined;
  return Object.fromEntries(line.slice(name.length + 1).split(',').map((kv) => kv.split('=') as [string, string]));
}

/** Polls `probe` until it returns a value, at most `rounds` times. */
export async function poll<T>(probe: () => Promise<T | undefined>, rounds = 100, everyMs = 200): Promise<T> {
  for (let i = 0; i < rounds; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // Not ready yet (no provider found, cluster still starting): probe again.
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met after ${rounds} rounds`);
}

/** Drops the cluster file into a running daemon's clusters dir and waits until its node listens. */
export async function joinCluster(d: TestDaemon, cluster: Cluster): Promise<string> {
  await writeFile(join(d.clustersDir, 'test.yaml'), renderCluster(cluster));
  const info = await poll(() => clusterInfo(d.redis(), cluster.name));
  expect(info.listen).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3/);
  return info.listen.split('|')[0];
}
