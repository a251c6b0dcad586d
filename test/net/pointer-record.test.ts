import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { describe, expect, it } from 'vitest';
import { framed, keyName, keyPairFromSeed, newKeyPair } from '../../src/net/identity.ts';
import { comparePointers, parsePointer, pointerKey, signPointer, verifyPointer } from '../../src/net/pointer-record.ts';

const run = (start: number): Buffer => Buffer.from(Array.from({ length: 32 }, (_, i) => start + i));
const CLUSTER = '3vq5bvPZVhpk8UiH3TMEBAtjvsxCHxtyPEh3SktiU7xY';

describe('pointer records (docs/format.md §15)', () => {
  const seed = run(32);
  const { publicKey } = keyPairFromSeed(seed);
  const key = pointerKey(keyName(publicKey));
  const now = 1_700_000_000_000;

  it('lays out the golden vector byte for byte and signs it deterministically', async () => {
    const r = signPointer(CLUSTER, seed, 7, 1_800_000_000_000, Buffer.from('hello'));
    expect(Buffer.from(key).toString()).toBe('/crisscross-ptr/93tzQvnKoJQuyYA4b3wCn8hKsTP6huHHi6Fg2BwjnXAw');
    expect(r.bytes.length).toBe(1 + 32 + 8 + 8 + 4 + 5 + 64);
    expect(r.bytes.subarray(0, 58).toString('hex')).toBe(
      `01${publicKey.toString('hex')}0000000000000007000001a3185c500000000005${Buffer.from('hello').toString('hex')}`,
    );
    expect(r.signature.toString('hex')).toBe(GOLDEN_SIGNATURE);
    const u64 = (n: number): Buffer => Buffer.from(BigInt(n).toString(16).padStart(16, '0'), 'hex');
    const signed = framed('crisscross/pointer/v1', Buffer.from(CLUSTER), publicKey, u64(7), u64(1_800_000_000_000), Buffer.from('hello'));
    // Another Ed25519 implementation's verify, over the signed input rebuilt from the spec.
    expect(await (await generateKeyPairFromSeed('Ed25519', seed)).publicKey.verify(signed, r.signature)).toBe(true);
    expect(verifyPointer(CLUSTER, key, r.bytes, now).value.toString()).toBe('hello');
  });

  it('refuses a flipped bit anywhere, another cluster, another name, expiry and bad layouts', () => {
    const r = signPointer(CLUSTER, seed, 3, now + 1000, Buffer.from('value'));
    for (let i = 0; i < r.bytes.length; i++) {
      const bad = Buffer.from(r.bytes);
      bad[i] ^= 0x01;
      expect(() => verifyPointer(CLUSTER, key, bad, now), `byte ${i}`).toThrow(/BADRECORD|malformed|signature|name/);
    }
    expect(() => verifyPointer('another cluster', key, r.bytes, now)).toThrow(/bad signature/);
    const other = newKeyPair();
    const foreign = signPointer(CLUSTER, other.privateKey, 9, 0, Buffer.from('hijack'));
    expect(() => verifyPointer(CLUSTER, key, foreign.bytes, now)).toThrow(/not its public key/);
    expect(() => verifyPointer(CLUSTER, key, r.bytes, now + 1000)).toThrow(/expired/);
    expect(verifyPointer(CLUSTER, key, signPointer(CLUSTER, seed, 0, 0, Buffer.alloc(0)).bytes, Number.MAX_SAFE_INTEGER).generation).toBe(0);
    expect(() => parsePointer(r.bytes.subarray(0, 60))).toThrow(/too short/);
    expect(() => parsePointer(Buffer.concat([r.bytes, Buffer.of(0)]))).toThrow(/length/);
    expect(() => signPointer(CLUSTER, seed, 0, 0, Buffer.alloc(4097))).toThrow(/at most 4096/);
  });

  it('orders by generation, then expiry (never last), then bytes', () => {
    const g1 = signPointer(CLUSTER, seed, 1, now, Buffer.from('a'));
    const g2 = signPointer(CLUSTER, seed, 2, now, Buffer.from('a'));
    const g2later = signPointer(CLUSTER, seed, 2, now + 1, Buffer.from('a'));
    const g2never = signPointer(CLUSTER, seed, 2, 0, Buffer.from('a'));
    expect(comparePointers(g2, g1)).toBeGreaterThan(0);
    expect(comparePointers(g2later, g2)).toBeGreaterThan(0);
    expect(comparePointers(g2never, g2later)).toBeGreaterThan(0);
    expect(comparePointers(g1, g1)).toBe(0);
    const b = signPointer(CLUSTER, seed, 2, now, Buffer.from('b'));
    expect(Math.sign(comparePointers(b, g2))).toBe(-Math.sign(comparePointers(g2, b)));
  });
});

const GOLDEN_SIGNATURE = '25a1ab079f26f41bc15f0546b0ac561792587b04fc884e17e036a8ef5fdf47fe38253aecc0d46313ebc9d174f7965300b06d990e891d7c46983ba758fa23aa02';
