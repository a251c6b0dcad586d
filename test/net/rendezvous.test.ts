import { describe, expect, it } from 'vitest';
import { clusterName, newCluster } from '../../src/net/cluster-file.ts';
import { keyText } from '../../src/net/identity.ts';
import { DEFAULT_CLUSTER, OVERLAY_CYPHER, OVERLAY_NAME, OVERLAY_PUBLIC_KEY, clusterNameOf, overlayCluster } from '../../src/net/overlay.ts';
import { EPOCH_MS, epochOf, openAddrs, rendezvousCid, rendezvousKey, sealAddrs } from '../../src/net/rendezvous.ts';

const run = (start: number): Buffer => Buffer.from(Array.from({ length: 32 }, (_, i) => start + i));

describe('the default overlay (docs/format.md §15)', () => {
  it('has the documented public Cypher, PublicKey and Name, and grants no storage', () => {
    expect(keyText(OVERLAY_CYPHER)).toBe('A8qZTZ2JyNBf2kNuN4Gr5nLo5QPWF5JnRrxMqAnrqWFf');
    expect(keyText(OVERLAY_PUBLIC_KEY)).toBe('ES3QbKZwYBgbKG6evnFaUE2FwiRChcJxpj7a8TdpyB58');
    expect(OVERLAY_NAME).toBe('D1uyxqXAR4gfJZgnufddE5ytpdHR9MQtYHWH5SHknYsn');
    expect(clusterName(OVERLAY_CYPHER, OVERLAY_PUBLIC_KEY)).toBe(OVERLAY_NAME);
    const c = overlayCluster([], 4001);
    expect(c).toMatchObject({ maxTtlMs: 0, maxAcceptedSize: 0, port: 4001 });
    expect(c.privateKey).toBeUndefined();
    expect(overlayCluster([], 0).port).toBeUndefined();
  });

  it('^defaultcluster resolves to it, other Names pass through', () => {
    expect(clusterNameOf(DEFAULT_CLUSTER, true)).toBe(OVERLAY_NAME);
    expect(clusterNameOf('abc', false)).toBe('abc');
    expect(() => clusterNameOf(DEFAULT_CLUSTER, false)).toThrow(expect.objectContaining({ code: 'NOCLUSTER' }));
  });
});

describe('rendezvous keys and sealed answers', () => {
  it('derives the golden rendezvous key and its CID', () => {
    const key = rendezvousKey(run(0), 20000);
    expect(key.toString('hex')).toBe('f0a2078bbcb03cdd3b6e4b8fb12298b04fd67057883cd870cb56d5c18a0fc1d6');
    expect(rendezvousCid(key).toString()).toBe('bafkreihquidyxpfqhtotw3slr6ysfgfqj7lhav4ihtmhbs2w2xayud6b2y');
  });

  it('rotates per UTC day and differs per Cypher', () => {
    expect(epochOf(Date.UTC(2024, 9, 4, 23, 59))).toBe(20000);
    expect(epochOf(Date.UTC(2024, 9, 5))).toBe(20001);
    expect(EPOCH_MS).toBe(86_400_000);
    const c = newCluster();
    expect(rendezvousKey(c.cypher, 1).equals(rendezvousKey(c.cypher, 2))).toBe(false);
    expect(rendezvousKey(c.cypher, 1).equals(rendezvousKey(newCluster().cypher, 1))).toBe(false);
  });

  it('opens an answer only with the Cypher and epoch it was sealed with', () => {
    const c = newCluster();
    const addrs = ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLS5GbiYTGqZHAcjDWpcKkqNtuNQTioggFaMfN1uA4MTs'];
    const sealed = sealAddrs(c.cypher, 7, addrs);
    expect(sealed.includes(Buffer.from('127.0.0.1'))).toBe(false);
    expect(openAddrs(c.cypher, 7, sealed)).toEqual(addrs);
    expect(openAddrs(c.cypher, 8, sealed)).toBeUndefined();
    expect(openAddrs(newCluster().cypher, 7, sealed)).toBeUndefined();
    const tampered = Buffer.from(sealed);
    tampered[20] ^= 1;
    expect(openAddrs(c.cypher, 7, tampered)).toBeUndefined();
    expect(openAddrs(c.cypher, 7, Buffer.alloc(0))).toBeUndefined();
  });
});
