/**
 * Where chunk boundaries fall (docs/format.md §5). A key's level is the number of leading
 * 5-bit groups of zeros in MurmurHash3_x86_32(seed 0) of its canonical bytes, so each level
 * up is 32 times sparser and nodes hold 32 entries on average. A non-cryptographic hash is
 * enough: boundaries need spread, not secrecy (anyone can pick keys that fill a node; see the
 * spec), and at ~2 µs per call node:crypto would dominate write time.
 */
export const BITS_PER_LEVEL = 5;

export function keyLevel(key: Uint8Array, start = 0, end = key.length): number {
  return Math.floor(Math.clz32(murmur3(key, start, end)) / BITS_PER_LEVEL);
}

export function murmur3(b: Uint8Array, start: number, end: number): number {
  let h = 0;
  const len = end - start;
  const blocksEnd = start + (len & ~3);
  let i = start;
  for (; i < blocksEnd; i += 4) {
    let k = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = b[i];
    if (rest > 1) k ^= b[i + 1] << 8;
    if (rest > 2) k ^= b[i + 2] << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
