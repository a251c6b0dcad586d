import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCluster } from '../../src/net/cluster-file.ts';
import { keyName, keyPairFromSeed, parseKey } from '../../src/net/identity.ts';
import { type TreeServer, startTreeServer } from './tree-server.ts';

describe('CLUSTER and KEYPAIR', () => {
  let s: TreeServer;
  beforeAll(async () => {
    s = await startTreeServer();
  });
  afterAll(() => s.close());

  it('CLUSTER returns a fresh cluster file the daemon loads', async () => {
    const a = parseCluster(String(await s.redis.call('CLUSTER')));
    const b = parseCluster(String(await s.redis.call('CLUSTER')));
    expect(a.privateKey).toBeDefined();
    expect(a.cypher.equals(b.cypher)).toBe(false);
    expect(a.name).not.toBe(b.name);
  });

  it('KEYPAIR returns a consistent key pair', async () => {
    const doc = parse(String(await s.redis.call('KEYPAIR'))) as Record<string, string>;
    const kp = keyPairFromSeed(parseKey(doc.PrivateKey, 'PrivateKey'));
    expect(kp.publicKey.equals(parseKey(doc.PublicKey, 'PublicKey'))).toBe(true);
    expect(doc.Name).toBe(keyName(kp.publicKey));
  });
});
