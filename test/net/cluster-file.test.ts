import { describe, expect, it } from 'vitest';
import { newCluster, parseCluster, renderCluster } from '../../src/net/cluster-file.ts';
import { keyText, newKeyPair } from '../../src/net/identity.ts';

const PEER = '12D3KooWLS5GbiYTGqZHAcjDWpcKkqNtuNQTioggFaMfN1uA4MTs';

describe('cluster files', () => {
  it('round-trips through YAML, Bootstrap and Port included', () => {
    const c = { ...newCluster(), bootstrap: [`/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`], port: 4001 };
    const back = parseCluster(renderCluster(c));
    expect(back).toEqual(c);
  });

  it('loads a file without PrivateKey (a member that cannot push)', () => {
    const { privateKey: _, ...pub } = newCluster();
    expect(parseCluster(renderCluster(pub)).privateKey).toBeUndefined();
  });

  it.each([
    ['a Name that does not match', (y: string) => y.replace(/^Name: .*/m, `Name: ${keyText(Buffer.alloc(32, 7))}`), /Name does not match/],
    ['a PrivateKey of another key pair', (y: string) => y.replace(/^PrivateKey: .*/m, `PrivateKey: ${keyText(newKeyPair().privateKey)}`), /PrivateKey does not belong/],
    ['a short Cypher', (y: string) => y.replace(/^Cypher: .*/m, 'Cypher: abc'), /Cypher must be 32 bytes/],
    ['a missing PublicKey', (y: string) => y.replace(/^PublicKey: .*\n/m, ''), /PublicKey is missing/],
    ['an unknown field', (y: string) => `${y}Colour: blue\n`, /unknown field Colour/],
    ['a negative MaxTTL', (y: string) => y.replace(/^MaxTTL: .*/m, 'MaxTTL: -5'), /MaxTTL/],
    ['a bad Port', (y: string) => `${y}Port: 70000\n`, /Port/],
    ['a Bootstrap entry that is no multiaddr', (y: string) => `${y}Bootstrap: [nonsense]\n`, /not a multiaddr/],
    ['a Bootstrap entry without a peer id', (y: string) => `${y}Bootstrap: [/ip4/127.0.0.1/tcp/1]\n`, /lacks \/p2p/],
    ['broken YAML', () => 'Name: [', /not YAML/],
    ['a list instead of a mapping', () => '- 1\n', /not a YAML mapping/],
  ])('refuses %s', (_what, edit, message) => {
    expect(() => parseCluster(edit(renderCluster(newCluster())))).toThrow(message);
  });
});
