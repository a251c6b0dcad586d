import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Cluster, newCluster } from '../../src/net/cluster-file.ts';
import { keyName, newKeyPair, newSecret } from '../../src/net/identity.ts';
import { ClusterNode } from '../../src/net/node.ts';
import { signPointer } from '../../src/net/pointer-record.ts';
import { Pointers } from '../../src/net/pointers.ts';
import { eventually, quiet } from './helpers.ts';

interface Member {
  node: ClusterNode;
  pointers: Pointers;
}

describe('pointers in a 12-node in-process cluster', { timeout: 180_000 }, () => {
  const members: Member[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const m of members) m.pointers.stop();
    await Promise.all(members.map((m) => m.node.stop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const addMember = async (cluster: Cluster): Promise<Member> => {
    const dir = await mkdtemp(join(tmpdir(), 'crisscross-ptr-'));
    dirs.push(dir);
    const pointers = new Pointers(dir, quiet);
    await pointers.load();
    const node = await ClusterNode.start({ cluster, nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger: quiet, records: pointers.dhtOptions(cluster) });
    pointers.attach(node);
    const m = { node, pointers };
    members.push(m);
    return m;
  };

  it('every member finds a pointer set anywhere, and a set elsewhere continues its generations', async () => {
    const cluster = newCluster();
    const first = await addMember(cluster);
    for (let i = 1; i < 12; i++) await addMember({ ...cluster, bootstrap: first.node.multiaddrs() });
    expect(await eventually(async () => members.every((m) => m.node.routingTableSize() > 0))).toBe(true);
    const kp = newKeyPair();
    const name = keyName(kp.publicKey);
    const lookups = async (): Promise<Array<[string, number] | undefined>> =>
      Promise.all(members.map(async (m) => {
        const r = await m.pointers.lookup(m.node, name, 0);
        return r === undefined ? undefined : [r.value.toString(), r.generation];
      }));

    const set0 = await members[5].pointers.set(members[5].node, kp.privateKey, Buffer.from('v0'), 3_600_000);
    expect(set0).toMatchObject({ name, generation: 0 });
    expect(set0.peers).toBeGreaterThan(0);
    expect(await eventually(async () => (await lookups()).every((r) => r?.[0] === 'v0' && r[1] === 0))).toBe(true);

    for (const [i, g] of [[9, 1], [2, 2], [11, 3]] as const) {
      expect((await members[i].pointers.set(members[i].node, kp.privateKey, Buffer.from(`v${g}`), -1)).generation).toBe(g);
    }
    expect(await eventually(async () => (await lookups()).every((r) => r?.[0] === 'v3' && r[1] === 3))).toBe(true);
    expect(await members[0].pointers.lookup(members[0].node, name, 4)).toBeUndefined();
  });
});

describe('the pointers file', () => {
  it('a damaged file or record is skipped with a warning; the good records are still republished', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crisscross-ptr-file-'));
    const cluster = newCluster();
    const kp = newKeyPair();
    const good = signPointer(cluster.name, kp.privateKey, 4, 0, Buffer.from('kept'));
    const file = join(dir, 'pointers.json');
    try {
      for (const text of ['{ not json', 'null', '[1]', JSON.stringify({ [cluster.name]: 7 })]) {
        await writeFile(file, text);
        await expect(new Pointers(dir, quiet).load()).resolves.toBeUndefined();
      }
      await writeFile(file, JSON.stringify({ [cluster.name]: { [keyName(kp.publicKey)]: good.bytes.toString('base64'), other: 'AAAA' } }));
      const pointers = new Pointers(dir, quiet);
      await pointers.load();
      const node = await ClusterNode.start({ cluster, nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger: quiet, records: pointers.dhtOptions(cluster) });
      try {
        pointers.attach(node);
        expect((await pointers.lookup(node, keyName(kp.publicKey), 0))?.value.toString()).toBe('kept');
      } finally {
        pointers.stop();
        await node.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
