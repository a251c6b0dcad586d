import { createHash } from 'node:crypto';

/** The spec's test stream (docs/format.md §11): SHA-256 of "crisscross" + u32 counter, concatenated. */
export function specBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(n / 32) * 32);
  const input = Buffer.alloc(14);
  input.write('crisscross');
  for (let i = 0; i * 32 < n; i++) {
    input.writeUInt32BE(i, 10);
    createHash('sha256').update(input).digest().copy(out, i * 32);
  }
  return out.subarray(0, n);
}

