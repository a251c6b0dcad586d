import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Float, Tuple, type Value, decodeValue, encodeValue } from '../../src/codec/index.ts';
import { lastEnd, scalarAt, skipAt } from '../../src/sql/scalar.ts';

const values: Value[] = [
  null, 0, 1, -1, 127, 128, -33, 65535, -2147483648, 2 ** 40, Number.MAX_SAFE_INTEGER, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 70n, -(2n ** 90n),
  0.5, -1.5e-300, new Float(-1e300), new Float(3), '', 'a', 'é ✓ 🙂', 'x'.repeat(40), 'y'.repeat(70_000), new Uint8Array(0), new Uint8Array([1, 2, 255]), new Uint8Array(300).fill(7),
  true, [1, 'a'], new Tuple([1, 2]), new Map<Value, Value>([[1, 2]]),
];

describe('scalarAt reads row values as decodeValue does', () => {
  it('gives the same value and end for every kind, inside a list of values', () => {
    const bytes = encodeValue(values);
    let p = 1 + (bytes[0] === 0xdc ? 2 : 0);
    for (const v of values) {
      const got = scalarAt(bytes, p);
      const end = lastEnd();
      expect(got).toEqual(decodeValue(bytes.subarray(p, end)));
      expect(got).toEqual(v instanceof Uint8Array ? Buffer.from(v) : v);
      expect(skipAt(bytes, p)).toBe(end);
      p = end;
    }
    expect(p).toBe(bytes.length);
  });
});
