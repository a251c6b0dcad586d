import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { compareAt, compareEncoded, encodeValue, Float, Link, Tuple, type Value } from '../../src/codec/index.ts';
import { hex, linkOf, refCompare, valueArb } from './helpers.ts';

// Property tests run thousands of cases; leave headroom when the machine is busy.
vi.setConfig({ testTimeout: 30_000 });

const sign = (x: number): number => (x < 0 ? -1 : x > 0 ? 1 : 0);
const cmp = (a: Value, b: Value): number => sign(compareEncoded(encodeValue(a), encodeValue(b)));

function show(v: Value): string {
  return hex(encodeValue(v));
}

describe('compareEncoded agrees with the reference order on decoded values', () => {
  it('pairs (every type, nested)', () => {
    fc.assert(
      fc.property(valueArb(3), valueArb(3), (a, b) => {
        expect(cmp(a, b), `${show(a)} vs ${show(b)}`).toBe(refCompare(a, b));
      }),
      { numRuns: 5000, seed: 1 },
    );
  });

  it('pairs of scalars of the same type', () => {
    // Same-rank pairs are where the interesting comparisons happen; random pairs are mostly of different ranks.
    const sameRank = fc.oneof(
      fc.tuple(valueArb(0), valueArb(0)),
      fc.tuple(fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 20, maxLength: 40 }), fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 0, maxLength: 40 })),
      fc.tuple(fc.uint8Array({ minLength: 20, maxLength: 40, max: 1 }), fc.uint8Array({ maxLength: 40, max: 1 })),
      fc.tuple(fc.double(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n })),
      fc.tuple(fc.double().map((d) => new Float(d)), fc.maxSafeInteger()),
    );
    fc.assert(
      fc.property(sameRank, ([a, b]) => {
        expect(cmp(a, b), `${show(a)} vs ${show(b)}`).toBe(refCompare(a, b));
      }),
      { numRuns: 5000, seed: 2 },
    );
  });

  it('is antisymmetric, and 0 exactly when the canonical bytes are equal', () => {
    fc.assert(
      fc.property(valueArb(2), valueArb(2), (a, b) => {
        const ea = encodeValue(a);
        const eb = encodeValue(b);
        const ab = sign(compareEncoded(ea, eb));
        const ba = sign(compareEncoded(eb, ea));
        expect(ab + ba).toBe(0);
        expect(ab === 0).toBe(hex(ea) === hex(eb));
        expect(compareEncoded(ea, new Uint8Array(ea))).toBe(0);
      }),
      { numRuns: 3000, seed: 3 },
    );
  });

  it('is transitive on random triples', () => {
    // Values drawn from a narrow pool so that triples are often of the same type and close.
    const pool = fc.oneof(
      valueArb(1),
      fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 3 }),
      fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 25, maxLength: 28 }),
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: -3, max: 3 }).map((n) => new Float(n)),
    );
    fc.assert(
      fc.property(pool, pool, pool, (a, b, c) => {
        const ab = cmp(a, b);
        const bc = cmp(b, c);
        const ac = cmp(a, c);
        if (ab <= 0 && bc <= 0) expect(ac, `${show(a)} ≤ ${show(b)} ≤ ${show(c)}`).toBeLessThanOrEqual(0);
        if (ab >= 0 && bc >= 0) expect(ac, `${show(a)} ≥ ${show(b)} ≥ ${show(c)}`).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 5000, seed: 4 },
    );
  });

  it('sorting by compareEncoded gives the reference order', () => {
    fc.assert(
      fc.property(fc.array(valueArb(2), { maxLength: 30 }), (vs) => {
        const byBytes = vs.map(encodeValue).sort(compareEncoded).map(hex);
        const byRef = [...vs].sort(refCompare).map(show);
        expect(byBytes).toEqual(byRef);
      }),
      { numRuns: 500, seed: 5 },
    );
  });

  it('compareAt compares values in place, at offsets inside larger buffers', () => {
    fc.assert(
      fc.property(valueArb(2), valueArb(2), fc.uint8Array({ maxLength: 5 }), fc.uint8Array({ maxLength: 5 }), (a, b, pa, pb) => {
        const ba = Buffer.concat([pa, encodeValue(a), Buffer.from([0xc0])]);
        const bb = Buffer.concat([pb, encodeValue(b), Buffer.from([0xc1])]);
        expect(sign(compareAt(ba, pa.length, bb, pb.length, 0))).toBe(refCompare(a, b));
      }),
      { numRuns: 1000, seed: 6 },
    );
  });
});

/** Asserts a strictly ascending chain: every earlier value sorts before every later one. */
function expectAscending(values: Value[]): void {
  for (let i = 0; i < values.length; i++) {
    for (let j = 0; j < values.length; j++) {
      const want = sign(i - j);
      expect(cmp(values[i], values[j]), `[${i}] ${show(values[i])} vs [${j}] ${show(values[j])}`).toBe(want);
      expect(refCompare(values[i], values[j])).toBe(want);
    }
  }
}

const LINK_0 = linkOf(new Uint8Array(32));
const LINK_1 = linkOf(Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? 1 : 0)));
const LINK_256 = linkOf(Uint8Array.from({ length: 32 }, (_, i) => (i === 30 ? 1 : 0)));

describe('hand-written order cases', () => {
  it('ranks: nil < false < true < numbers < bytes < strings < lists < tuples < maps < links', () => {
    expectAscending([
      null,
      false,
      true,
      -Infinity,
      -(2n ** 200n),
      0,
      2n ** 200n,
      Infinity,
      NaN,
      new Uint8Array(0),
      new Uint8Array([0xff, 0xff]),
      '',
      '\u{10FFFF}',
      [],
      [new Map()],
      new Tuple([]),
      new Tuple([LINK_1]),
      new Map(),
      new Map<Value, Value>([[LINK_1, LINK_1]]),
      LINK_0,
    ]);
  });

  it('1 < 1.0 < 1.5 < 2, and -1 < 0 < 0.0', () => {
    expectAscending([-1, new Float(-1), -0.5, 0, new Float(0), 1, new Float(1), 1.5, 2, new Float(2)]);
    expect(cmp(new Float(-0), new Float(0))).toBe(0);
    expect(cmp(-0, 0)).toBe(0);
  });

  it('an int sorts before the float of equal value, also for big integers', () => {
    expectAscending([-(2n ** 63n) - 1n, -(2n ** 63n), new Float(-(2 ** 63)), -(2n ** 63n) + 1n]);
    expectAscending([2n ** 53n, new Float(2 ** 53), 2n ** 53n + 1n]);
    expectAscending([2n ** 64n - 1n, 2n ** 64n, new Float(2 ** 64), 2n ** 64n + 1n]);
    expectAscending([2n ** 100n, new Float(2 ** 100), 2n ** 100n + 1n, 1e31]);
    expectAscending([-1e31, -(2n ** 100n) - 1n, -(2n ** 100n), new Float(-(2 ** 100))]);
  });

  it('big integers against fractional floats', () => {
    // Above 2^53 every float is integral; the fractional neighbours of big values live below it.
    expectAscending([2 ** 51 - 1, 2 ** 51 - 0.5, 2 ** 51, 2 ** 51 + 0.5, 2 ** 51 + 1, 2 ** 52 - 0.5, 2 ** 52]);
    expectAscending([-(2 ** 51) - 1, -(2 ** 51) - 0.5, -(2 ** 51)]);
    expectAscending([Number.MAX_SAFE_INTEGER, new Float(2 ** 53), 2n ** 53n + 1n, new Float(2 ** 53 + 2), 2n ** 53n + 3n]);
    expectAscending([-(2n ** 130n), -1e39, -(2n ** 129n), 1e39, 2n ** 130n]);
  });

  it('NaN sorts last among numbers, equal to itself, before bytes', () => {
    expectAscending([-Infinity, -(2n ** 300n), 0, Number.MAX_VALUE, 2n ** 1100n, Infinity, NaN, new Uint8Array(0)]);
    expect(cmp(NaN, new Float(NaN))).toBe(0);
  });

  it('bytes: lexicographic, a prefix first; all bytes before all strings', () => {
    expectAscending([new Uint8Array(0), new Uint8Array([0]), new Uint8Array([0, 0]), new Uint8Array([1]), new Uint8Array(300).fill(0xff), '']);
  });

  it('strings: "" < "a" < "aa" < "b", by UTF-8 bytes (U+FFFD before a surrogate pair)', () => {
    expectAscending(['', 'a', 'aa', 'b', 'é', '\uFFFD', '\u{1F600}', '\u{10FFFF}']);
  });

  it('strings longer than 24 bytes compare in byte order too', () => {
    // y = 25×a, x = b + 24×a, z = b: in byte order y < z < x. A comparator that is
    // reversed above some length makes this a cycle (x < y < z < x), which breaks every tree.
    const y = 'a'.repeat(25);
    const x = 'b' + 'a'.repeat(24);
    const z = 'b';
    expectAscending([y, z, x]);
    expectAscending(['a'.repeat(30), 'a'.repeat(29) + 'b', 'b'.repeat(30)]);
    expectAscending([new Uint8Array(30), new Uint8Array(30).fill(1)]);
  });

  it('links compare by their multihash bytes', () => {
    expectAscending([LINK_0, LINK_1, LINK_256]);
    expect(cmp(new Link(new Uint8Array(LINK_1.id)), LINK_1)).toBe(0);
  });

  it('lists: [] < [nil] < [1] < [1, 0] < [1, 1] < [2]', () => {
    expectAscending([[], [null], [1], [1, 0], [1, 1], [2], [2, [], []], ['a']]);
  });

  it('tuples compare by their items, like lists, and after every list', () => {
    expectAscending([[9, 9, 9], new Tuple([]), new Tuple([1]), new Tuple([1, 0]), new Tuple([2]), new Tuple([new Tuple([])])]);
  });

  it('maps compare by their sorted entry sequence', () => {
    const m = (...entries: Array<[Value, Value]>): Map<Value, Value> => new Map(entries);
    expectAscending([
      m(),
      m([null, null]),
      m([1, 'z']),
      m(['a', 1]),
      m(['a', 1], ['b', 0]),
      m(['a', 2]),
      m(['b', 0]),
    ]);
    // Insertion order is irrelevant.
    expect(cmp(m(['b', 1], ['a', 2]), m(['a', 2], ['b', 1]))).toBe(0);
  });

  it('nested values compare recursively', () => {
    expectAscending([[[1], 'x'], [[1, 0]], [new Tuple([new Map([['k', [1]]])])], [new Tuple([new Map([['k', [2]]])])]]);
  });
});
