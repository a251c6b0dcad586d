import { CrissError } from '../errors.ts';
import { KEY_BYTES, SIGNATURE_BYTES, framed, keyName, keyPairFromSeed, signEd25519, verifyEd25519 } from './identity.ts';

/** A signed pointer (docs/format.md §15): the newest value a key pair published in one cluster. */
export interface PointerRecord {
  publicKey: Buffer;
  generation: number;
  /** Epoch ms after which the record is invalid; 0: never. */
  expiry: number;
  value: Buffer;
  signature: Buffer;
  /** The whole record as stored in the DHT. */
  bytes: Buffer;
}

export const TAG_POINTER = 'crisscross/pointer/v1';
export const POINTER_NAMESPACE = 'crisscross-ptr';
export const MAX_POINTER_VALUE = 4096;
const VERSION = 1;
const HEADER = 1 + KEY_BYTES + 8 + 8 + 4;

/** The DHT key a pointer is published under. */
export function pointerKey(name: string): Uint8Array {
  return Buffer.from(`/${POINTER_NAMESPACE}/${name}`, 'utf8');
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * What is signed. The cluster's Name is in it though not in the record: a member of two
 * clusters cannot replay one cluster's pointer into the other.
 */
function signedBytes(cluster: string, publicKey: Uint8Array, generation: number, expiry: number, value: Uint8Array): Buffer {
  return framed(TAG_POINTER, Buffer.from(cluster, 'utf8'), publicKey, u64(generation), u64(expiry), value);
}

export function signPointer(cluster: string, seed: Uint8Array, generation: number, expiry: number, value: Uint8Array): PointerRecord {
  if (value.length > MAX_POINTER_VALUE) throw new CrissError('ERR', `a pointer value is at most ${MAX_POINTER_VALUE} bytes, not ${value.length}`);
  if (!Number.isSafeInteger(generation) || generation < 0) throw new CrissError('ERR', 'the generation must be a non-negative safe integer');
  const { publicKey } = keyPairFromSeed(seed);
  const signature = signEd25519(seed, signedBytes(cluster, publicKey, generation, expiry, value));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(value.length);
  const bytes = Buffer.concat([Buffer.of(VERSION), publicKey, u64(generation), u64(expiry), len, value, signature]);
  return { publicKey, generation, expiry, value: Buffer.from(value), signature, bytes };
}

function malformed(why: string): CrissError {
  return new CrissError('BADRECORD', `malformed pointer record: ${why}`);
}

function safeU64(b: Buffer, at: number, what: string): number {
  const n = b.readBigUInt64BE(at);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} over 2^53-1`);
  return Number(n);
}

/** The fields of a record, its layout checked but not its signature. */
export function parsePointer(raw: Uint8Array): PointerRecord {
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (b.length < HEADER + SIGNATURE_BYTES) throw malformed(`${b.length} bytes is too short`);
  if (b[0] !== VERSION) throw malformed(`unknown version ${b[0]}`);
  const valueLen = b.readUInt32BE(HEADER - 4);
  if (valueLen > MAX_POINTER_VALUE) throw malformed(`value of ${valueLen} bytes`);
  if (b.length !== HEADER + valueLen + SIGNATURE_BYTES) throw malformed('length does not match its value length');
  return {
    publicKey: Buffer.from(b.subarray(1, 1 + KEY_BYTES)),
    generation: safeU64(b, 1 + KEY_BYTES, 'generation'),
    expiry: safeU64(b, 1 + KEY_BYTES + 8, 'expiry'),
    value: Buffer.from(b.subarray(HEADER, HEADER + valueLen)),
    signature: Buffer.from(b.subarray(HEADER + valueLen)),
    bytes: Buffer.from(b),
  };
}

export function isExpired(r: PointerRecord, now: number): boolean {
  return r.expiry !== 0 && r.expiry <= now;
}

/**
 * A record that may stand under `key` in `cluster`'s DHT: well formed, under the name its
 * public key hashes to, signed by that key, not expired. Throws BADRECORD otherwise.
 */
export function verifyPointer(cluster: string, key: Uint8Array, raw: Uint8Array, now: number): PointerRecord {
  const r = parsePointer(raw);
  if (!Buffer.from(pointerKey(keyName(r.publicKey))).equals(key)) throw new CrissError('BADRECORD', 'pointer record stored under a name that is not its public key\'s');
  if (!verifyEd25519(r.publicKey, signedBytes(cluster, r.publicKey, r.generation, r.expiry, r.value), r.signature)) {
    throw new CrissError('BADRECORD', 'pointer record has a bad signature');
  }
  if (isExpired(r, now)) throw new CrissError('BADRECORD', 'pointer record has expired');
  return r;
}

/**
 * The order of records of one name: higher generation first, then the later expiry (never
 * last longest), then the bytes, so every node picks the same winner even between two
 * records a key signed with one generation.
 */
export function comparePointers(a: PointerRecord, b: PointerRecord): number {
  if (a.generation !== b.generation) return a.generation - b.generation;
  const ea = a.expiry === 0 ? Infinity : a.expiry;
  const eb = b.expiry === 0 ? Infinity : b.expiry;
  if (ea !== eb) return ea < eb ? -1 : 1;
  return Buffer.compare(a.bytes, b.bytes);
}
