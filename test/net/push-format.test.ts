import { describe, expect, it } from 'vitest';
import { keyPairFromSeed, verifyEd25519 } from '../../src/net/identity.ts';
import { NONCE_BYTES, PushRefused, type PushRequest, parsePush, pushBody, requestFrame, signPush } from '../../src/net/push-message.ts';

const seq = (from: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => from + i));

/** The golden vector of docs/blocks-protocol.md, "Push": the §15 cluster, signed with its seed 20 21 … 3f. */
const golden: PushRequest = {
  cluster: '3vq5bvPZVhpk8UiH3TMEBAtjvsxCHxtyPEh3SktiU7xY',
  root: Buffer.concat([Buffer.of(0x12, 0x20), seq(0x60, 32)]),
  ttlMs: 86_400_000,
  size: 1_048_576,
  nonce: seq(0x80, NONCE_BYTES),
  expiresAt: 1_800_000_000_000,
};
const BODY =
  '00000012637269737363726f73732f707573682f7631' +
  '0000002c337671356276505a5668706b3855694833544d454241746a767378434878747950456833536b746955377859' +
  '000000221220606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f' +
  '000000080000000005265c00' +
  '000000080000000000100000' +
  '00000010808182838485868788898a8b8c8d8e8f' +
  '00000008000001a3185c5000';
const SIGNATURE = 'f75eae9805b2285b6fd814ac8141d8c095161e87210d04caac5c77d706e42a7ac2c8f32564a50031f5d7529bee96150f7a8abbdfa7589ef2cde8d778e7701008';

function refusal(frame: Uint8Array): string {
  try {
    parsePush(frame);
  } catch (err) {
    expect(err).toBeInstanceOf(PushRefused);
    return (err as PushRefused).reason;
  }
  return 'parsed';
}

describe('push request format', () => {
  it('matches the golden vector byte for byte, and parses back', () => {
    expect(pushBody(golden).toString('hex')).toBe(BODY);
    const frame = signPush(golden, seq(0x20, 32));
    expect(frame[0]).toBe(0x01);
    expect(frame.subarray(1 + BODY.length / 2).toString('hex')).toBe(SIGNATURE);
    const { request, body, signature } = parsePush(frame);
    expect(request).toEqual(golden);
    expect(verifyEd25519(keyPairFromSeed(seq(0x20, 32)).publicKey, body, signature)).toBe(true);
  });

  it('refuses anything off the layout as MALFORMED', () => {
    const body = Buffer.from(BODY, 'hex');
    const sig = Buffer.from(SIGNATURE, 'hex');
    const withField = (i: number, bytes: Buffer): Buffer => {
      const fields: Buffer[] = [];
      for (let at = 0; at < body.length; at += 4 + body.readUInt32BE(at)) fields.push(body.subarray(at + 4, at + 4 + body.readUInt32BE(at)));
      fields[i] = bytes;
      return Buffer.concat(fields.flatMap((f) => [Buffer.from([0, 0, f.length >> 8, f.length & 0xff]), f]));
    };
    expect(refusal(Buffer.alloc(10))).toBe('MALFORMED');
    expect(refusal(Buffer.concat([Buffer.of(0x02), body, sig]))).toBe('MALFORMED');
    expect(refusal(requestFrame(body.subarray(0, body.length - 1), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(Buffer.concat([body, Buffer.from([0, 0, 0, 0])]), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(0, Buffer.from('crisscross/push/v2')), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(1, Buffer.alloc(0)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(1, Buffer.alloc(65, 0x41)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(2, Buffer.alloc(33)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(5, Buffer.alloc(15)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(3, Buffer.alloc(8, 0xff)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(3, Buffer.alloc(8)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(withField(6, Buffer.alloc(7)), sig))).toBe('MALFORMED');
    expect(refusal(requestFrame(body, sig))).toBe('parsed');
  });
});
