import { decodeValue, skipValue } from './decode.ts';
import { encodeValue } from './encode.ts';

export { compareEncoded, compareAt } from './compare.ts';
export { decodeValue, skipValue } from './decode.ts';
export { ByteWriter, encodeBytes, encodeValue, writeBin } from './encode.ts';
export { Float, Link, Tuple, isInteger, type Value } from './value.ts';

/**
 * Canonical bytes for msgpack a client sent: returned as-is when already canonical (the common
 * case, no copy), otherwise decoded loosely and re-encoded. Throws BADVALUE on anything else.
 */
export function canonicalize(bytes: Uint8Array): Uint8Array {
  try {
    if (skipValue(bytes, 0) === bytes.length) return bytes;
  } catch {
    // Not canonical (or not valid at all): the loose decode below tells which.
  }
  return encodeValue(decodeValue(bytes, { strict: false }));
}
export { holdsNoLinks, linksIn } from './links.ts';
