import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterName, clusterPsk, dhtProtocol } from '../../src/net/cluster-file.ts';
import { NODE_SECRET_FILE, framed, keyName, keyPairFromSeed, keyText, loadNodeSecret, newKeyPair, peerSeed } from '../../src/net/identity.ts';

const run = (start: number): Buffer => Buffer.from(Array.from({ length: 32 }, (_, i) => start + i));

/** The golden vector of docs/format.md §15: bytes 0x00…, 0x20… and 0x40… as Cypher, seed and node secret. */
describe('derivations (golden vector)', () => {
  const cypher = run(0);
  const kp = keyPairFromSeed(run(32));
  const secret = run(64);

  it('derives the public key, Name, key name, PSK and DHT protocol', () => {
    expect(keyText(cypher)).toBe('1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE');
    expect(keyText(kp.publicKey)).toBe('3ogUn1GNXoASaRbxPNeVJnVv5rG4EPBtmQmX61jVorUe');
    expect(clusterName(cypher, kp.publicKey)).toBe('3vq5bvPZVhpk8UiH3TMEBAtjvsxCHxtyPEh3SktiU7xY');
    expect(keyName(kp.publicKey)).toBe('93tzQvnKoJQuyYA4b3wCn8hKsTP6huHHi6Fg2BwjnXAw');
    expect(clusterPsk(cypher).toString('hex')).toBe('07a18c636ff1a081eb38b0ec9c94485f92f1c9c9285f58007a2233cba66c1bfb');
    expect(dhtProtocol(cypher)).toBe('/crisscross/kad/42a19d044298482f/1.0.0');
  });

  it('derives the peer identity from the node secret and the cluster', async () => {
    const seed = peerSeed(secret, cypher, kp.publicKey);
    expect(seed.toString('hex')).toBe('9999bb0f787921f0de7bc6688a965e2a5befdd1ffda5fd2c7c727f00c3d26c3b');
    const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed));
    expect(peer.toString()).toBe('12D3KooWLS5GbiYTGqZHAcjDWpcKkqNtuNQTioggFaMfN1uA4MTs');
  });

  it('gives one node unrelated identities in two clusters, and two nodes unrelated ones in one', () => {
    const other = newKeyPair();
    const a = peerSeed(secret, cypher, kp.publicKey);
    expect(peerSeed(secret, run(1), kp.publicKey).equals(a)).toBe(false);
    expect(peerSeed(secret, cypher, other.publicKey).equals(a)).toBe(false);
    expect(peerSeed(run(65), cypher, kp.publicKey).equals(a)).toBe(false);
  });

  it('frames fields with lengths, so shifting bytes between fields changes the input', () => {
    expect(framed('t', Buffer.from('ab'), Buffer.from('c')).equals(framed('t', Buffer.from('a'), Buffer.from('bc')))).toBe(false);
    expect(framed('t', Buffer.from('ab')).toString('hex')).toBe('00000001' + '74' + '00000002' + '6162');
  });
});

describe('node secret', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('is made once, kept in the data dir with mode 0600, and read back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'crisscross-secret-'));
    const first = await loadNodeSecret(dir, {});
    expect(first.length).toBe(32);
    expect((await stat(join(dir, NODE_SECRET_FILE))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, NODE_SECRET_FILE), 'utf8')).trim()).toBe(keyText(first));
    expect((await loadNodeSecret(dir, {})).equals(first)).toBe(true);
  });

  it('comes from NODE_SECRET when set, and a bad one is refused', async () => {
    dir = await mkdtemp(join(tmpdir(), 'crisscross-secret-'));
    expect((await loadNodeSecret(dir, { NODE_SECRET: keyText(run(64)) })).equals(run(64))).toBe(true);
    await expect(loadNodeSecret(dir, { NODE_SECRET: 'short' })).rejects.toThrow(/NODE_SECRET/);
  });
});
