import { describe, expect, it } from 'vitest';
import { serviceKey } from '../../src/jobs/announce.ts';
import { answerMessage, signAnswer, signerOf, verifyAnswer } from '../../src/jobs/signature.ts';
import { rootCid } from '../../src/net/announce.ts';
import { keyName } from '../../src/net/identity.ts';
import { decodeCall, encodeCall } from '../../src/net/job-service.ts';

// docs/format.md §16: the golden vector.
const seed = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x20 + i));
const nonce = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
const method = Buffer.from('add_one');

describe('job answer signatures', () => {
  it('match the golden vector of docs/format.md §16', async () => {
    const s = signerOf(seed);
    expect(s.name).toBe('93tzQvnKoJQuyYA4b3wCn8hKsTP6huHHi6Fg2BwjnXAw');
    expect(answerMessage(s.name, method, Buffer.of(0x29), Buffer.of(0x2a), nonce).toString('hex')).toBe(
      '00000018637269737363726f73732f6a6f622d616e737765722f76310000002c3933747a51766e4b6f4a517579594134623377436e38684b7354503668754848693646673242776a6e584177000000076164645f6f6e650000000129000000012a00000010000102030405060708090a0b0c0d0e0f',
    );
    const sig = await signAnswer(s, s.name, method, Buffer.of(0x29), Buffer.of(0x2a), nonce);
    expect(sig.toString('hex')).toBe(
      '000102030405060708090a0b0c0d0e0f5e049871a77e2cf8415ad5ea4596f23efb74296cfd04c0da92274b382cbf3626afefbef8b3ea1441f73ddb0b1095cdfe8e1680d95b8162d7379b45328b4e6c04',
    );
    expect(verifyAnswer(s.name, method, Buffer.of(0x29), Buffer.of(0x2a), sig, s.publicKey, nonce)).toBe(true);
    expect(rootCid(serviceKey(s.name)).toString()).toBe('bafkreidwnqugweu2oxmdikmccuq22jfqhx5geiwxc3blqct7wq6kox3xd4');
  });

  it('fails on any changed field, a wrong length, another nonce', async () => {
    const s = signerOf(seed);
    const sig = await signAnswer(s, s.name, method, Buffer.of(1), Buffer.of(2), nonce);
    expect(verifyAnswer(s.name, method, Buffer.of(1), Buffer.of(3), sig, s.publicKey)).toBe(false);
    expect(verifyAnswer(s.name, Buffer.from('add_on'), Buffer.from('e\x01'), Buffer.of(2), sig, s.publicKey)).toBe(false);
    expect(verifyAnswer(s.name, method, Buffer.of(1), Buffer.of(2), sig.subarray(1), s.publicKey)).toBe(false);
    expect(verifyAnswer(s.name, method, Buffer.of(1), Buffer.of(2), sig, s.publicKey, Buffer.alloc(16))).toBe(false);
    const notAPoint = Buffer.alloc(32, 0xff);
    expect(verifyAnswer(keyName(notAPoint), method, Buffer.of(1), Buffer.of(2), sig, notAPoint)).toBe(false);
    const other = signerOf(Buffer.alloc(32, 7));
    expect(verifyAnswer(other.name, method, Buffer.of(1), Buffer.of(2), sig, other.publicKey)).toBe(false);
  });

  it('a call frame round-trips and a truncated one is refused', () => {
    const req = { callId: Buffer.alloc(16, 1), nonce, service: 'svc', method, arg: Buffer.from('arg'), timeoutMs: 5000 };
    const frame = encodeCall(req);
    expect(decodeCall(frame)).toEqual(req);
    expect(() => decodeCall(frame.subarray(0, frame.length - 1))).toThrow(/truncated/);
    expect(() => decodeCall(Buffer.concat([frame, Buffer.of(0)]))).toThrow(/trailing/);
  });
});
