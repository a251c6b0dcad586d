/**
 * `node bench/pointers.ts [nodes] [rounds]`: an in-process cluster on loopback (one bootstrap
 * peer), each node with its own pointer store. Each round one member sets a pointer of one
 * key (so every set first looks up the generation the network holds) and another member
 * looks it up. Prints set and lookup latency p50/p99, the peers each put reached, and, for
 * scale, a bare kad-dht getClosestPeers walk of the same key in the same run (the query every
 * lookup and put makes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { newCluster } from '../src/net/cluster-file.ts';
import { newKeyPair, newSecret } from '../src/net/identity.ts';
import { ClusterNode } from '../src/net/node.ts';
import { pointerKey } from '../src/net/pointer-record.ts';
import { Pointers } from '../src/net/pointers.ts';

const count = Number(process.argv[2] ?? 20);
const rounds = Number(process.argv[3] ?? 50);
const logger = pino({ level: 'silent' });
const cluster = newCluster();
const dir = await mkdtemp(join(tmpdir(), 'crisscross-bench-ptr-'));
const members: Array<{ node: ClusterNode; pointers: Pointers }> = [];
for (let i = 0; i < count; i++) {
  const pointers = new Pointers(await mkdtemp(join(dir, 'n')), logger);
  const bootstrap = i === 0 ? [] : members[0].node.multiaddrs();
  const node = await ClusterNode.start({ cluster: { ...cluster, bootstrap }, nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger, records: pointers.dhtOptions(cluster) });
  pointers.attach(node);
  members.push({ node, pointers });
}
while (!members.every((m) => m.node.routingTableSize() > 0)) await new Promise((r) => setTimeout(r, 100));
// One warm-up lookup per member fills the routing tables the way a running cluster has them.
const kp = newKeyPair();
for (const m of members) await m.pointers.lookup(m.node, 'warmup', 0).catch(() => undefined);

const setMs: number[] = [];
const lookupMs: number[] = [];
const reached: number[] = [];
const walkMs: number[] = [];
for (let i = 0; i < rounds; i++) {
  const setter = members[(i * 7) % count];
  const seeker = members[(i * 7 + 3) % count];
  let t = performance.now();
  const s = await setter.pointers.set(setter.node, kp.privateKey, Buffer.from(`value ${i}`), 3_600_000);
  setMs.push(performance.now() - t);
  reached.push(s.peers);
  t = performance.now();
  const r = await seeker.pointers.lookup(seeker.node, s.name, s.generation);
  lookupMs.push(performance.now() - t);
  if (r?.generation !== i) throw new Error(`round ${i}: looked up generation ${r?.generation}, want ${i}`);
  t = performance.now();
  for await (const e of seeker.node.libp2p.services.dht.getClosestPeers(pointerKey(s.name), { signal: AbortSignal.timeout(20_000) })) void e;
  walkMs.push(performance.now() - t);
}
const pct = (xs: number[], p: number): string => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))].toFixed(1);
console.log(`${count} nodes, ${rounds} rounds: set p50 ${pct(setMs, 0.5)} ms p99 ${pct(setMs, 0.99)} ms; lookup p50 ${pct(lookupMs, 0.5)} ms p99 ${pct(lookupMs, 0.99)} ms; bare DHT walk p50 ${pct(walkMs, 0.5)} ms p99 ${pct(walkMs, 0.99)} ms; each put stored on ${Math.min(...reached)}–${Math.max(...reached)} peers`);
for (const m of members) m.pointers.stop();
await Promise.all(members.map((m) => m.node.stop()));
await rm(dir, { recursive: true, force: true });
