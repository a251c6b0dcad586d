import { describe, expect, it } from 'vitest';
import { newKeyPair, newSecret, signEd25519, verifyEd25519 } from '../../src/net/identity.ts';
import {
  type Hello, decodeAuth, decodeHello, decodeProof, decodeResult, encodeAuth, encodeHello, encodeProof, encodeResult, proofMessage, tunnelCid,
} from '../../src/net/tunnel-wire.ts';

const hello: Hello = { mode: 'connect', name: newSecret(), challenge: newSecret(), host: '127.0.0.1', port: 8080 };
const client = Buffer.from('client-peer-id-bytes');
const server = Buffer.from('server-peer-id-bytes');

describe('tunnel handshake frames', () => {
  it('round-trip', () => {
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    expect(decodeHello(encodeHello({ ...hello, mode: 'check', host: 'db.internal' }))).toEqual({ ...hello, mode: 'check', host: 'db.internal' });
    const kp = newKeyPair();
    const sig = signEd25519(kp.privateKey, Buffer.from('m'));
    expect(decodeProof(encodeProof(kp.publicKey, sig))).toEqual({ publicKey: kp.publicKey, signature: sig });
    expect(decodeAuth(encodeAuth('pass phrase é'))).toBe('pass phrase é');
    expect(decodeResult(encodeResult({ code: 'notallowed', message: '127.0.0.1:9' }))).toEqual({ code: 'notallowed', message: '127.0.0.1:9' });
    expect(decodeProof(encodeResult({ code: 'nokey', message: '' }))).toEqual({ code: 'nokey', message: '' });
  });

  it('refuse malformed frames', () => {
    const h = encodeHello(hello);
    expect(() => decodeHello(h.subarray(0, 68))).toThrow(/bad HELLO/);
    expect(() => decodeHello(Buffer.concat([Buffer.of(1, 2), h.subarray(2)]))).toThrow(/bad HELLO/);
    expect(() => decodeHello(encodeHello({ ...hello, port: 0 }))).toThrow(/bad host or port/);
    expect(() => decodeHello(encodeHello({ ...hello, host: 'a b' }))).toThrow(/bad host or port/);
    expect(() => decodeHello(encodeHello({ ...hello, host: 'x'.repeat(254) }))).toThrow(/bad host or port/);
    expect(() => decodeProof(Buffer.alloc(97, 2).subarray(0, 96))).toThrow(/bad PROOF/);
    expect(() => decodeAuth(Buffer.of(3))).toThrow(/bad AUTH/);
    expect(() => decodeAuth(Buffer.alloc(1026, 3))).toThrow(/bad AUTH/);
    expect(() => decodeResult(Buffer.of(4, 6))).toThrow(/bad RESULT/);
  });

  it('bind the proof to the challenge, the request and both peers', () => {
    const kp = newKeyPair();
    const base = proofMessage(hello, client, server);
    const sig = signEd25519(kp.privateKey, base);
    expect(verifyEd25519(kp.publicKey, base, sig)).toBe(true);
    const others = [
      proofMessage({ ...hello, challenge: newSecret() }, client, server),
      proofMessage({ ...hello, host: '127.0.0.2' }, client, server),
      proofMessage({ ...hello, port: 8081 }, client, server),
      proofMessage({ ...hello, mode: 'check' }, client, server),
      proofMessage({ ...hello, name: newSecret() }, client, server),
      // A relaying peer: the real server signed for the relay as its client, and the client sees the relay as its server.
      proofMessage(hello, server, client),
      proofMessage(hello, Buffer.from('relay-peer-id-bytes'), server),
      proofMessage(hello, client, Buffer.from('relay-peer-id-bytes')),
    ];
    for (const m of others) expect(verifyEd25519(kp.publicKey, m, sig)).toBe(false);
    expect(verifyEd25519(newKeyPair().publicKey, base, sig)).toBe(false);
  });

  it('put tunnels under their own DHT key, apart from a root CID of the same bytes', () => {
    const name = newSecret();
    expect(tunnelCid(name).toString()).not.toBe(tunnelCid(newSecret()).toString());
    expect(tunnelCid(name).multihash.digest).not.toEqual(name);
  });
});
