import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTypes, MessageType } from '@libp2p/kad-dht';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster, renderCluster, renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyName, keyText, newKeyPair } from '../../src/net/identity.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { pointerKey, signPointer } from '../../src/net/pointer-record.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { cli, cliOnTerminal, daemonEnv } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';
import { eventually, member } from './helpers.ts';

type Found = [string, number] | null;

/** Peers that confirmed storing `bytes` when test code puts it under `name` through `node` (a forger: fault injection lives here). */
async function forgePut(node: ClusterNode, name: string, bytes: Uint8Array): Promise<number> {
  let stored = 0;
  try {
    for await (const e of node.libp2p.services.dht.put(pointerKey(name), bytes, { signal: AbortSignal.timeout(15_000) })) {
      if (e.type === EventTypes.PEER_RESPONSE && e.messageType === MessageType.PUT_VALUE) stored++;
    }
  } catch {
    // Refusals surface as errors of the query; what counts is that nobody stored it.
  }
  return stored;
}

describe('signed pointers between daemons', { timeout: 240_000 }, () => {
  const cluster = newCluster();
  const kp = newKeyPair();
  const name = keyName(kp.publicKey);
  let a: TestDaemon;
  let b: TestDaemon;
  let c: TestDaemon;
  let addrA: string;
  let forger: ClusterNode | undefined;
  let keysDir: string;

  const lookup = async (d: TestDaemon, generation?: number): Promise<Found> => {
    const args = generation === undefined ? [cluster.name, name] : [cluster.name, name, String(generation)];
    return (await d.redis().call('POINTERLOOKUP', ...args)) as Found;
  };
  /** Lookups go through the DHT; routing tables fill as queries run, so a first lookup may be retried. */
  const lookupUntil = (d: TestDaemon, want: Found, generation?: number): Promise<Found> =>
    poll(async () => {
      const got = await lookup(d, generation);
      return JSON.stringify(got) === JSON.stringify(want) ? got : undefined;
    }, 50);

  beforeAll(async () => {
    [a, b, c] = await startDaemons(3);
    addrA = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addrA] });
    await joinCluster(c, { ...cluster, bootstrap: [addrA] });
    await poll(async () => ((await clusterInfo(a.redis(), cluster.name))?.peers === '2' ? true : undefined));
    keysDir = await mkdtemp(join(tmpdir(), 'crisscross-keys-'));
  }, 120_000);
  afterAll(async () => {
    await forger?.stop();
    await cleanupDaemons();
    await rm(keysDir, { recursive: true, force: true });
  });

  it('POINTERSET on A publishes generation 0, which B and C find (and a higher minimum hides)', async () => {
    expect(await a.redis().call('POINTERSET', cluster.name, kp.privateKey, 'root-0', '-1')).toBe(name);
    expect(await lookupUntil(b, ['root-0', 0])).toEqual(['root-0', 0]);
    expect(await lookupUntil(c, ['root-0', 0], 0)).toEqual(['root-0', 0]);
    expect(await lookup(c, 1)).toBeNull();
  });

  it('a second set takes the next generation; a lookup returns it at or below it, nil above', async () => {
    // The key as KEYPAIR prints it (base58) works as well as the raw seed.
    expect(await a.redis().call('POINTERSET', cluster.name, keyText(kp.privateKey), 'root-1', '3600000')).toBe(name);
    expect(await lookupUntil(c, ['root-1', 1])).toEqual(['root-1', 1]);
    expect(await lookup(b, 1)).toEqual(['root-1', 1]);
    expect(await lookup(b, 0)).toEqual(['root-1', 1]);
    expect(await lookup(b, 2)).toBeNull();
  });

  it('peers refuse forged, foreign and older records, and lookups keep the genuine newest', async () => {
    forger = await member({ ...cluster, bootstrap: [addrA] });
    const f = forger;
    expect(await eventually(async () => f.routingTableSize() >= 1)).toBe(true);
    // Test code plays a member that forges: a higher generation with its value changed after signing,
    const tampered = Buffer.from(signPointer(cluster.name, kp.privateKey, 5, 0, Buffer.from('root-x')).bytes);
    tampered[tampered.length - 64 - 1] ^= 0x01;
    // one signed by another key under this name,
    const foreign = signPointer(cluster.name, newKeyPair().privateKey, 9, 0, Buffer.from('root-y')).bytes;
    // and a validly signed but older one (the stale-record trap: PUT_VALUE never runs the selector).
    const older = signPointer(cluster.name, kp.privateKey, 0, 0, Buffer.from('root-old')).bytes;
    // A control that peers do accept, under a name nobody else uses, shows the puts reach them.
    const other = newKeyPair();
    const control = signPointer(cluster.name, other.privateKey, 0, 0, Buffer.from('control')).bytes;
    expect(await eventually(async () => (await forgePut(f, keyName(other.publicKey), control)) >= 2)).toBe(true);
    expect(await forgePut(f, name, tampered)).toBe(0);
    expect(await forgePut(f, name, foreign)).toBe(0);
    expect(await forgePut(f, name, older)).toBe(0);
    // The forger still answers lookups with its own copies; the daemons' validators discard them.
    for (const d of [a, b, c]) expect(await lookup(d)).toEqual(['root-1', 1]);
    expect(await b.redis().call('POINTERLOOKUP', cluster.name, keyName(other.publicKey))).toEqual(['control', 0]);
  });

  it('a node that never set the name continues from the network\'s generation', async () => {
    expect(await c.redis().call('POINTERSET', cluster.name, kp.privateKey, 'root-from-c', '-1')).toBe(name);
    expect(await lookupUntil(a, ['root-from-c', 2])).toEqual(['root-from-c', 2]);
    // A's own record (generation 1) is behind now: its next set still goes past the network's.
    expect(await a.redis().call('POINTERSET', cluster.name, kp.privateKey, 'root-3', '-1')).toBe(name);
    expect(await lookupUntil(b, ['root-3', 3])).toEqual(['root-3', 3]);
  });

  it('concurrent sets of one name on one daemon get distinct generations', async () => {
    const [x, y] = [a.redis(), a.redis()];
    await Promise.all([x.call('POINTERSET', cluster.name, kp.privateKey, 'root-p', '-1'), y.call('POINTERSET', cluster.name, kp.privateKey, 'root-q', '-1')]);
    const got = await lookupUntil(b, (await lookup(a)) ?? ['none', -1]);
    expect(got?.[1]).toBe(5);
    expect(['root-p', 'root-q']).toContain(got?.[0]);
    expect(await lookup(c, 4)).toEqual(got);
  });

  it('a record stops being found once its ttl has passed', async () => {
    const brief = newKeyPair();
    const briefName = keyName(brief.publicKey);
    expect(await a.redis().call('POINTERSET', cluster.name, brief.privateKey, 'short-lived', '5000')).toBe(briefName);
    expect(await a.redis().call('POINTERLOOKUP', cluster.name, briefName)).toEqual(['short-lived', 0]);
    // Peers still hold it and answer with it; the asking node's validator refuses it once expired.
    await poll(async () => ((await b.redis().call('POINTERLOOKUP', cluster.name, briefName)) === null ? true : undefined), 60);
    expect(await c.redis().call('POINTERLOOKUP', cluster.name, briefName)).toBeNull();
  });

  it('bad keys, names and values get clear errors, and the daemon keeps serving', async () => {
    const r = a.redis();
    await expect(r.call('POINTERSET', cluster.name, Buffer.alloc(31, 1), 'v', '-1')).rejects.toThrow(/private_key is not base58|private_key must be 32 bytes/);
    await expect(r.call('POINTERSET', cluster.name, 'abc', 'v', '-1')).rejects.toThrow(/private_key must be 32 bytes, not \d+: private_key must be a 32-byte Ed25519 seed/);
    await expect(r.call('POINTERSET', cluster.name, '0OIl0OIl', 'v', '-1')).rejects.toThrow(/private_key is not base58/);
    await expect(r.call('POINTERSET', cluster.name, kp.privateKey, 'x'.repeat(4097), '-1')).rejects.toThrow(/TOOBIG/);
    await expect(r.call('POINTERSET', cluster.name, kp.privateKey, 'v', '0')).rejects.toThrow(/needs a TTL/);
    await expect(r.call('POINTERSET', 'NoSuchCluster', kp.privateKey, 'v', '-1')).rejects.toThrow(/NOCLUSTER/);
    await expect(r.call('POINTERLOOKUP', cluster.name, 'not-a-name')).rejects.toThrow(/pointer name is not base58/);
    await expect(r.call('POINTERLOOKUP', cluster.name, name, '-1')).rejects.toThrow(/generation must be/);
    expect(await r.call('PING')).toBe('PONG');
    expect(await lookup(a, 5)).not.toBeNull();
    expect(await r.call('POINTERLOOKUP', cluster.name, keyName(newKeyPair().publicKey))).toBeNull();
  });

  it('the CLI sets and looks up pointers, naming cluster and key by *file.yaml#Field', async () => {
    const me = newKeyPair();
    await writeFile(join(keysDir, 'me.yaml'), renderKeyPair(me));
    await writeFile(join(keysDir, 'cluster.yaml'), renderCluster(cluster));
    const clusterRef = `*${join(keysDir, 'cluster.yaml')}#Name`;
    const set = await cli(['pointer_set', clusterRef, `*${join(keysDir, 'me.yaml')}#PrivateKey`, 'cli-value', '--ttl', '3600000'], { env: daemonEnv(a) });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout.toString()).toBe(`${keyName(me.publicKey)}\n`);
    const nameRef = `*${join(keysDir, 'me.yaml')}#Name`;
    const got = await poll(async () => {
      const r = await cli(['pointer_lookup', clusterRef, nameRef], { env: daemonEnv(b) });
      return r.code === 0 ? r : undefined;
    }, 20);
    expect(got.stdout.toString()).toBe('cli-value');
    // Like `get`: on a terminal the line is ended.
    const shown = await cliOnTerminal(['pointer_lookup', clusterRef, nameRef], { env: daemonEnv(b) });
    expect(shown.stdout.toString()).toBe('cli-value\r\n');
    const higher = await cli(['pointer_lookup', clusterRef, nameRef, '--generation', '1'], { env: daemonEnv(b) });
    expect(higher.code).toBe(1);
    expect(higher.stderr).toMatch(/no value .* at generation 1 or later/);
  });

  it('a restarted daemon republishes its pointers from the data dir', async () => {
    const solo = newCluster();
    // Only A is a member while it publishes, so nothing but its data dir keeps the record.
    await writeFile(join(a.clustersDir, 'solo.yaml'), renderCluster(solo));
    const soloAddr = (await poll(() => clusterInfo(a.redis(), solo.name))).listen.split('|')[0];
    const owner = newKeyPair();
    const soloName = keyName(owner.publicKey);
    expect(await a.redis().call('POINTERSET', solo.name, owner.privateKey, 'kept', '-1')).toBe(soloName);
    expect(JSON.parse(await readFile(join(a.dataDir, 'pointers.json'), 'utf8'))[solo.name][soloName]).toBeTypeOf('string');
    await a.stop();
    await a.restart();
    // Its DHT's store lived in memory; B finds the record only because A republished it.
    await poll(() => clusterInfo(a.redis(), solo.name));
    await writeFile(join(b.clustersDir, 'solo.yaml'), renderCluster({ ...solo, bootstrap: [soloAddr] }));
    const got = await poll(async () => ((await b.redis().call('POINTERLOOKUP', solo.name, soloName)) as Found) ?? undefined, 50);
    expect(got).toEqual(['kept', 0]);
  });
});
