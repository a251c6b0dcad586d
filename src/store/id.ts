import { Buffer } from 'node:buffer';
import { createHash, hash } from 'node:crypto';
import { base58 } from '@scure/base';
import { EXT8, EXT_LINK } from '../codec/format.ts';
import { CrissError } from '../errors.ts';

/**
 * Ids are multihashes (docs/format.md §6): 0x12 (sha2-256), 0x20 (32 bytes), then the digest
 * of the block's exact bytes. In text they are base58btc, the same spelling as IPFS CIDv0.
 * SHA-256 because node:crypto runs it at ~1.7 GB/s with SHA-NI here, ahead of BLAKE2.
 */
export type Id = Uint8Array;

export const SHA2_256 = 0x12;
export const DIGEST_BYTES = 32;
/** The multihash prefix (hash code, digest length): two bytes every id shares. */
export const ID_PREFIX_BYTES = 2;
export const ID_BYTES = ID_PREFIX_BYTES + DIGEST_BYTES;

/**
 * How an id sits inside encoded values (docs/format.md §2): a link is always ext8, length 34,
 * extension type 3, then the id. The header never varies, so code reading encoded nodes finds
 * a child's id at a fixed offset from its value's start without decoding anything.
 */
export const LINK_HEADER: readonly number[] = [EXT8, ID_BYTES, EXT_LINK];
export const LINK_HEADER_BYTES = LINK_HEADER.length;
export const LINK_BYTES = LINK_HEADER_BYTES + ID_BYTES;
/** Base58 of a sha2-256 multihash is always 46 characters starting with "Qm". */
const TEXT_LENGTH = 46;

export function idOf(block: Uint8Array): Id {
  const out = Buffer.allocUnsafe(ID_BYTES);
  out[0] = SHA2_256;
  out[1] = DIGEST_BYTES;
  out.set(hash('sha256', block, 'buffer'), 2);
  return out;
}

/**
 * Past this size a block is hashed on libuv's thread pool, so the event loop is never held for
 * more than a few milliseconds. Below it (every file chunk) it is hashed where it lies: WebCrypto
 * copies its input into a fresh buffer per call, which cost more than the hashing itself (a 256 MiB
 * `cat` took 1.45–1.80 s of daemon CPU with chunks hashed on the pool, 1.06–1.27 s on the loop).
 */
export const HASH_OFF_LOOP_BYTES = 4 * 1024 * 1024;

/** Whether `block`'s sha2-256 multihash is `id` (a big block hashed on the thread pool). */
export async function hasId(block: Uint8Array, id: Id): Promise<boolean> {
  if (!isId(id)) return false;
  if (block.length <= HASH_OFF_LOOP_BYTES) return idEquals(idOf(block), id);
  return Buffer.from(await crypto.subtle.digest('SHA-256', block)).equals(id.subarray(ID_PREFIX_BYTES));
}

/** The id of a block given in pieces, hashed where the pieces lie. */
export function idOfPieces(pieces: Iterable<Uint8Array>): Id {
  const h = createHash('sha256');
  for (const piece of pieces) h.update(piece);
  const out = Buffer.allocUnsafe(ID_BYTES);
  out[0] = SHA2_256;
  out[1] = DIGEST_BYTES;
  out.set(h.digest(), 2);
  return out;
}

/** Whether a block that arrived in pieces hashes to `id`, hashed where the pieces lie. */
export function piecesHaveId(pieces: Iterable<Uint8Array>, id: Id): boolean {
  return isId(id) && idEquals(idOfPieces(pieces), id);
}

export function isId(bytes: Uint8Array): boolean {
  return isIdAt(bytes, 0, bytes.length);
}

/** Whether the `len` bytes at `b[at]` are an id, without a view of them. */
export function isIdAt(b: Uint8Array, at: number, len: number): boolean {
  return len === ID_BYTES && b[at] === SHA2_256 && b[at + 1] === DIGEST_BYTES;
}

export function idToText(id: Id): string {
  return base58.encode(id);
}

/** An id from its base58 text or its raw multihash bytes (both are accepted on the wire). */
export function parseId(input: Uint8Array | string): Id {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  if (isId(bytes)) return Buffer.from(bytes);
  if (bytes.length === TEXT_LENGTH) {
    let decoded: Uint8Array | undefined;
    try {
      decoded = base58.decode(Buffer.from(bytes).toString('latin1'));
    } catch {
      decoded = undefined;
    }
    if (decoded !== undefined && isId(decoded)) return Buffer.from(decoded);
  }
  throw new CrissError('BADID', `invalid tree id '${Buffer.from(bytes).toString('latin1').slice(0, 64)}'`);
}

export function idEquals(a: Id, b: Id): boolean {
  return Buffer.compare(a, b) === 0;
}

/** A compact Map key for an id (the prefix carries no information). */
export function idKey(id: Id): string {
  return (Buffer.isBuffer(id) ? id : Buffer.from(id)).toString('latin1', ID_PREFIX_BYTES, ID_BYTES);
}
