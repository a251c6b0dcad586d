import { EXT8, EXT_BLOB, MAX_VALUE_BYTES } from '../codec/format.ts';
import { skipValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { ID_BYTES, type Id, hasId, idOf, idToText, isId } from '../store/id.ts';
import { lengthOf } from '../store/segments.ts';

/**
 * Large values live in blocks of their own (docs/format.md §4): a leaf keeps a 42-byte blob
 * reference instead, so nodes stay small whatever users store, and a remote read of one key
 * never fetches megabytes of neighbours. The rule depends only on the value, so history
 * independence holds: a value whose canonical encoding is longer than INLINE_MAX bytes is
 * always a reference, a shorter one never.
 */
export const INLINE_MAX = 1024;

const PAYLOAD = ID_BYTES + 4 + 1;
export const REF_BYTES = 3 + PAYLOAD;

/** A blob block: the exact canonical encoding of the value it stands for. */
export interface Blob {
  id: Id;
  bytes: Uint8Array;
}

/** `c7 27 04`, the id, the value's byte length (u32) and its first byte (its type). */
export function blobRef(id: Id, value: Uint8Array | readonly Uint8Array[]): Buffer {
  const r = Buffer.allocUnsafe(REF_BYTES);
  r[0] = EXT8;
  r[1] = PAYLOAD;
  r[2] = EXT_BLOB;
  r.set(id, 3);
  r.writeUInt32BE(lengthOf(value), 3 + ID_BYTES);
  r[3 + ID_BYTES + 4] = value instanceof Uint8Array ? value[0] : value[0][0];
  return r;
}

export function isRefAt(b: Uint8Array, p: number): boolean {
  return b[p] === EXT8 && b[p + 1] === PAYLOAD && b[p + 2] === EXT_BLOB;
}

export function isRef(v: Uint8Array): boolean {
  return v.length === REF_BYTES && isRefAt(v, 0);
}

export function refId(ref: Uint8Array, p = 0): Id {
  return ref.subarray(p + 3, p + 3 + ID_BYTES);
}

export function refLength(ref: Uint8Array, p = 0): number {
  return ((ref[p + 37] << 24) >>> 0) + ((ref[p + 38] << 16) | (ref[p + 39] << 8) | ref[p + 40]);
}

/** The value's first byte: its type, known without fetching the blob. */
export function refTag(ref: Uint8Array, p = 0): number {
  return ref[p + 41];
}

/** Bytes and strings hold no links, so walks need not fetch them. */
export function refMayLink(ref: Uint8Array, p = 0): boolean {
  const t = refTag(ref, p);
  return !(t === 0xc5 || t === 0xc6 || t === 0xda || t === 0xdb);
}

/** Checks a reference read from a node; returns where it ends. */
export function checkRefAt(b: Uint8Array, p: number): number {
  if (!isId(b.subarray(p + 3, p + 3 + ID_BYTES))) throw new Error('blob reference without a valid id');
  const len = refLength(b, p);
  if (len <= INLINE_MAX || len > MAX_VALUE_BYTES) throw new Error('blob reference to a value that must be inline');
  return p + REF_BYTES;
}

/** The leaf form of a canonical value, with its blob when it is too large to stay inline. */
export function separate(value: Uint8Array): { val: Uint8Array; blob: Blob | null } {
  if (value.length <= INLINE_MAX) return { val: value, blob: null };
  const id = idOf(value);
  return { val: blobRef(id, value), blob: { id, bytes: value } };
}

/** A blob as read from a disk or a peer: its hash, length, type and canonical form are checked. */
export async function verifyBlob(ref: Uint8Array, bytes: Uint8Array): Promise<Uint8Array> {
  const id = refId(ref);
  const matches = bytes.length === refLength(ref) && bytes[0] === refTag(ref) && (await hasId(bytes, id));
  if (!matches) throw new CrissError('BADBLOCK', `blob ${idToText(id)} does not match its reference`);
  try {
    if (skipValue(bytes, 0) !== bytes.length) throw new Error('trailing bytes');
  } catch (e) {
    throw new CrissError('BADBLOCK', `blob ${idToText(id)} is not one canonical value: ${(e as Error).message}`);
  }
  return bytes;
}
