/**
 * `node bench/push.ts [MiB]`: four daemons on loopback sharing a cluster. A holds a tree of
 * MiB of 64 KiB random values; `PUSH` asks the other three to store it (each clones it from A,
 * in parallel). In the same run, for scale, one `REMOTE … PERSIST` clones a second tree of the
 * same size from A onto one member. Prints seconds and MB/s (bytes stored across receivers).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { newCluster, renderCluster, type Cluster } from '../src/net/cluster-file.ts';
import { cleanupDaemons, startDaemons, type TestDaemon } from '../test/harness/daemon.ts';

const mib = Number(process.argv[2] ?? 256);
const VALUE = 64 * 1024;
const PER_CALL = 64;

async function info(r: Redis, name: string): Promise<Record<string, string> | undefined> {
  const line = String(await r.call('INFO', 'cluster')).split('\r\n').find((l) => l.startsWith(`${name}:`));
  return line === undefined ? undefined : Object.fromEntries(line.slice(name.length + 1).split(',').map((kv) => kv.split('=') as [string, string]));
}

async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the cluster did not come up');
}

async function joinCluster(d: TestDaemon, c: Cluster): Promise<string> {
  await writeFile(join(d.clustersDir, 'bench.yaml'), renderCluster(c));
  return (await until(() => info(d.redis(), c.name))).listen.split('|')[0];
}

async function tree(r: Redis): Promise<string> {
  let root = '';
  for (let done = 0; done < mib * 1024 * 1024; done += PER_CALL * VALUE) {
    const args: Array<string | Buffer> = [root, '-1'];
    for (let i = 0; i < PER_CALL; i++) args.push(`v${done + i * VALUE}`, randomBytes(VALUE));
    root = String(await r.call('PUTMULTIBIN', ...args));
  }
  return root;
}

try {
  const cluster = newCluster({ maxAcceptedSize: 4 * mib * 1024 * 1024 });
  const [a, ...rx] = await startDaemons(4);
  const addr = await joinCluster(a, cluster);
  await Promise.all(rx.map((d) => joinCluster(d, { ...cluster, bootstrap: [addr] })));
  await until(async () => ((await info(a.redis(), cluster.name))?.routing_table === '3' ? true : undefined));
  const [pushed, cloned] = [await tree(a.redis()), await tree(a.redis())];
  const bytes = mib * 1024 * 1024;

  let t = performance.now();
  const accepted = Number(await a.redis().call('PUSH', cluster.name, pushed, '3600000'));
  const pushS = (performance.now() - t) / 1000;

  await a.redis().call('ANNOUNCE', cluster.name, cloned, '3600000');
  t = performance.now();
  await until(async () => {
    try {
      return await rx[0].redis().call('REMOTE', cluster.name, '1', 'PERSIST', cloned, '-1');
    } catch {
      return undefined;
    }
  });
  const cloneS = (performance.now() - t) / 1000;

  console.log(`tree: ${mib} MiB of ${VALUE / 1024} KiB values`);
  console.log(`PUSH to 3 peers: accepted by ${accepted}, ${pushS.toFixed(2)} s, ${((accepted * bytes) / pushS / 1e6).toFixed(0)} MB/s stored across receivers`);
  console.log(`REMOTE PERSIST onto 1 peer: ${cloneS.toFixed(2)} s, ${(bytes / cloneS / 1e6).toFixed(0)} MB/s`);
} finally {
  await cleanupDaemons();
}
