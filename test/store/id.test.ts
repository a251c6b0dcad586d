import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CrissError } from '../../src/errors.ts';
import { Link, encodeValue } from '../../src/codec/index.ts';
import {
  HASH_OFF_LOOP_BYTES, ID_BYTES, LINK_BYTES, LINK_HEADER, LINK_HEADER_BYTES, hasId, idEquals, idKey, idOf, idToText, isId, parseId, piecesHaveId,
} from '../../src/store/id.ts';

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** base58btc written from its definition (big-endian base 58, one '1' per leading zero byte). */
function refBase58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function expectBadId(input: Uint8Array | string): void {
  let err: unknown;
  try {
    parseId(input);
  } catch (e) {
    err = e;
  }
  expect(err, `parseId(${JSON.stringify(typeof input === 'string' ? input : hex(input))}) should fail`).toBeInstanceOf(CrissError);
  expect((err as CrissError).code).toBe('BADID');
}

const EMPTY_DIGEST = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** sha2-256 multihash of the empty byte string, in base58btc (worked out with refBase58 above and pinned). */
const EMPTY_TEXT = 'QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n';

describe('ids', () => {
  it('the id of the empty byte string is the sha2-256 multihash of sha256("")', () => {
    const id = idOf(new Uint8Array(0));
    expect(hex(id)).toBe(`1220${EMPTY_DIGEST}`);
    expect(id.length).toBe(ID_BYTES);
    expect(isId(id)).toBe(true);
    expect(refBase58(id)).toBe(EMPTY_TEXT);
    expect(idToText(id)).toBe(EMPTY_TEXT);
    expect(hex(parseId(EMPTY_TEXT))).toBe(`1220${EMPTY_DIGEST}`);
  });

  it('the id of "abc" matches the FIPS 180-2 sha256 vector', () => {
    expect(hex(idOf(Buffer.from('abc')))).toBe('1220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('idOf hashes the exact bytes (a view into a larger buffer hashes only its window)', () => {
    const big = Buffer.from('xxabcxx');
    expect(hex(idOf(big.subarray(2, 5)))).toBe(hex(idOf(Buffer.from('abc'))));
  });

  it('base58 round trip: text is 46 characters starting Qm, equal to the reference encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (block) => {
        const id = idOf(block);
        expect(hex(id.subarray(2))).toBe(createHash('sha256').update(block).digest('hex'));
        const text = idToText(id);
        expect(text).toBe(refBase58(id));
        expect(text).toHaveLength(46);
        expect(text.startsWith('Qm')).toBe(true);
        expect(hex(parseId(text))).toBe(hex(id));
        expect(idEquals(parseId(text), id)).toBe(true);
      }),
      { numRuns: 500, seed: 1 },
    );
  });

  it('extreme digests round-trip too (all zero, all ff)', () => {
    for (const fill of [0x00, 0xff, 0x80, 0x01]) {
      const id = Buffer.concat([Buffer.from([0x12, 0x20]), Buffer.alloc(32, fill)]);
      const text = idToText(id);
      expect(text).toBe(refBase58(id));
      expect(hex(parseId(text))).toBe(hex(id));
    }
  });

  it('parseId accepts raw 34 bytes (Uint8Array, Buffer, or a latin1 string) and returns a copy', () => {
    const id = idOf(Buffer.from('hello'));
    const plain = new Uint8Array(id);
    const parsed = parseId(plain);
    expect(hex(parsed)).toBe(hex(id));
    plain[5] ^= 0xff;
    expect(hex(parsed)).toBe(hex(id));
    expect(hex(parseId(Buffer.from(id)))).toBe(hex(id));
    // A RESP bulk string read as latin1 carries the same bytes.
    expect(hex(parseId(Buffer.from(id).toString('latin1')))).toBe(hex(id));
  });

  it('parseId accepts base58 text given as bytes', () => {
    const id = idOf(Buffer.from('bytes-text'));
    expect(hex(parseId(Buffer.from(idToText(id), 'latin1')))).toBe(hex(id));
  });

  it('parseId rejects bad text, wrong lengths and wrong multihash prefixes with BADID', () => {
    const good = idToText(idOf(Buffer.from('x')));
    expectBadId('');
    expectBadId('hello');
    expectBadId(good.slice(1)); // 45 characters
    expectBadId(`${good}1`); // 47 characters
    expectBadId(`${good.slice(0, 45)}0`); // '0' is not in the alphabet
    expectBadId(`${good.slice(0, 45)}O`);
    expectBadId(`${good.slice(0, 45)}l`);
    expectBadId(`${good.slice(0, 45)}I`);
    expectBadId(` ${good.slice(1)}`);
    expectBadId(good.toLowerCase());
    // 46 valid base58 characters that are not a sha2-256 multihash.
    const notMultihash = refBase58(Buffer.concat([Buffer.from([0x11, 0x20]), Buffer.alloc(32, 7)]));
    expect(notMultihash).toHaveLength(46);
    expectBadId(notMultihash);
    expectBadId('1'.repeat(46));
    expectBadId('z'.repeat(46));
    // Raw bytes of the wrong length or prefix.
    const id = idOf(Buffer.from('x'));
    expectBadId(id.subarray(0, 33));
    expectBadId(Buffer.concat([id, Buffer.from([0])]));
    expectBadId(new Uint8Array(34));
    expectBadId(Buffer.concat([Buffer.from([0x12, 0x21]), id.subarray(2)]));
    expectBadId(Buffer.concat([Buffer.from([0x13, 0x20]), id.subarray(2)]));
    expectBadId(new Uint8Array(0));
  });

  it('isId checks length and prefix; idKey tells ids apart', () => {
    const a = idOf(Buffer.from('a'));
    const b = idOf(Buffer.from('b'));
    expect(isId(a)).toBe(true);
    expect(isId(a.subarray(1))).toBe(false);
    expect(isId(new Uint8Array(34))).toBe(false);
    expect(idKey(a)).not.toBe(idKey(b));
    expect(idKey(new Uint8Array(a))).toBe(idKey(a));
    expect(idEquals(a, new Uint8Array(a))).toBe(true);
    expect(idEquals(a, b)).toBe(false);
  });
});

describe('checking a block against its id', () => {
  it('hasId tells the right block from one changed in its last byte, hashed in place and on the thread pool', async () => {
    for (const size of [0, 1000, HASH_OFF_LOOP_BYTES - 1, HASH_OFF_LOOP_BYTES, 5 * 1024 * 1024]) {
      const block = Buffer.alloc(size, 5);
      const id = idOf(block);
      expect(await hasId(block, id)).toBe(true);
      if (size === 0) continue;
      const changed = Buffer.from(block);
      changed[size - 1] ^= 1;
      expect(await hasId(changed, id)).toBe(false);
    }
    expect(await hasId(Buffer.from('x'), Buffer.alloc(ID_BYTES))).toBe(false);
  });

  it('piecesHaveId hashes pieces as one block, whatever the cuts', () => {
    const block = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31) & 0xff));
    const id = idOf(block);
    for (const cuts of [[], [1], [0, 0, 5000], [1, 2, 3, 9999]]) {
      const at = [0, ...cuts, block.length];
      const pieces = at.slice(1).map((end, i) => block.subarray(at[i], end));
      expect(piecesHaveId(pieces, id)).toBe(true);
      expect(piecesHaveId(pieces.slice(0, -1), id)).toBe(false);
    }
    expect(piecesHaveId([block], Buffer.alloc(ID_BYTES))).toBe(false);
  });
});

describe('the link layout', () => {
  it('is what the codec writes for a link: a fixed header, then the id', () => {
    const id = idOf(Buffer.from('a root'));
    const link = encodeValue(new Link(id));
    expect(link.length).toBe(LINK_BYTES);
    expect([...link.subarray(0, LINK_HEADER_BYTES)]).toEqual([...LINK_HEADER]);
    expect(Buffer.from(link.subarray(LINK_HEADER_BYTES)).equals(Buffer.from(id))).toBe(true);
    expect(LINK_BYTES).toBe(3 + ID_BYTES);
  });
});
