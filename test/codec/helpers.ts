import fc from 'fast-check';
import { CrissError } from '../../src/errors.ts';
import { Float, Link, Tuple, type Value } from '../../src/codec/index.ts';
export { prng } from '../helpers/prng.ts';

/**
 * Shared by the codec tests: hex helpers, an arbitrary over every value type, a value
 * normaliser for equality, and a reference comparator written from the spec (not from
 * src/codec/compare.ts) so the byte-level order can be checked against it.
 */

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/** Runs `f` and returns the error it throws (or fails the caller's expectation with undefined). */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** True when `f` throws a CrissError with code BADVALUE. */
export function isBadValue(e: unknown): boolean {
  return e instanceof CrissError && e.code === 'BADVALUE';
}

export function linkOf(digest: Uint8Array): Link {
  const id = new Uint8Array(34);
  id[0] = 0x12;
  id[1] = 0x20;
  id.set(digest, 2);
  return new Link(id);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Integers around every msgpack width boundary, plus arbitrary ones. */
const boundaryInts = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]
  .flatMap((n) => [n, -n, n - 1, -n - 1, n + 1, -n + 1])
  .filter((n) => Number.isSafeInteger(n));

const boundaryBigs = [2n ** 53n, 2n ** 63n, 2n ** 64n, 2n ** 71n, 2n ** 120n, 2n ** 127n, 2n ** 128n]
  .flatMap((n) => [n, -n, n - 1n, -n - 1n, n + 1n, -n + 1n]);

export const numberArb: fc.Arbitrary<Value> = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.maxSafeInteger(),
  fc.constantFrom(...boundaryInts),
  fc.bigInt({ min: -(2n ** 140n), max: 2n ** 140n }),
  fc.bigInt({ min: -(2n ** 66n), max: 2n ** 66n }),
  fc.constantFrom(...boundaryBigs),
  fc.double(),
  fc.double().map((d) => new Float(d)),
  fc.integer({ min: -1000, max: 1000 }).map((n) => new Float(n)),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 53, 2 ** 64, -(2 ** 63)).map((n) => new Float(n)),
);

/** Strings of every kind, including long ones sharing prefixes (longer than the comparator's 24-byte fast path). */
export const stringArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ maxLength: 70 }),
  fc.string({ unit: fc.constantFrom('a', 'b', 'é', '\u{1F600}', '\uFFFD'), minLength: 20, maxLength: 40 }),
  fc.constantFrom('', 'a', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(16), '\uFEFF', '\uFEFFa'),
);

export const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
  fc.uint8Array({ minLength: 20, maxLength: 40, max: 1 }),
);

export const linkArb: fc.Arbitrary<Link> = fc.oneof(
  digest.map(linkOf),
  // Links differing only in their last bytes.
  fc.uint8Array({ minLength: 2, maxLength: 2 }).map((tail) => {
    const d = new Uint8Array(32);
    d.set(tail, 30);
    return linkOf(d);
  }),
);

export const scalarArb: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  numberArb,
  stringArb,
  bytesArb,
  linkArb,
);

/** Every value type, nested up to a few levels. */
export function valueArb(maxDepth = 3): fc.Arbitrary<Value> {
  const { value } = fc.letrec<{ value: Value; list: Value[]; tuple: Tuple; map: Map<Value, Value> }>((tie) => ({
    value: fc.oneof({ maxDepth, depthSize: 'small' }, scalarArb, tie('list'), tie('tuple'), tie('map')),
    list: fc.array(tie('value'), { maxLength: 5 }),
    tuple: fc.array(tie('value'), { maxLength: 4 }).map((items) => new Tuple(items)),
    map: fc
      .uniqueArray(fc.tuple(tie('value'), tie('value')), { maxLength: 4, selector: ([k]) => JSON.stringify(norm(k)) })
      .map((entries) => new Map(entries)),
  }));
  return value;
}

// ---------------------------------------------------------------------------------------------
// Normal form for equality (independent of the codec)

export type Norm =
  | ['nil']
  | ['bool', boolean]
  | ['int', string]
  | ['float', string]
  | ['bytes', string]
  | ['str', string]
  | ['list', Norm[]]
  | ['tuple', Norm[]]
  | ['map', Array<[Norm, Norm]>]
  | ['link', string];

function floatNorm(f: number): ['float', string] {
  if (Number.isNaN(f)) return ['float', 'NaN'];
  return ['float', Object.is(f, -0) ? '0' : String(f)];
}

/** A plain JSON-able form in which two values are equal iff they are the same value of the model. */
export function norm(v: Value): Norm {
  if (v === null) return ['nil'];
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'bigint') return ['int', v.toString()];
  if (typeof v === 'number') return Number.isSafeInteger(v) ? ['int', BigInt(v).toString()] : floatNorm(v);
  if (typeof v === 'string') return ['str', v];
  if (v instanceof Float) return floatNorm(v.value);
  if (v instanceof Uint8Array) return ['bytes', hex(v)];
  if (v instanceof Link) return ['link', hex(v.id)];
  if (v instanceof Tuple) return ['tuple', v.items.map(norm)];
  if (Array.isArray(v)) return ['list', v.map(norm)];
  const entries = [...v.entries()].map(([k, x]): [Norm, Norm] => [norm(k), norm(x)]);
  entries.sort((a, b) => (JSON.stringify(a[0]) < JSON.stringify(b[0]) ? -1 : 1));
  return ['map', entries];
}

// ---------------------------------------------------------------------------------------------
// Reference comparator (docs: nil < false < true < numbers < bytes < strings < lists < tuples < maps < links)

function rank(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'boolean') return 1;
  if (typeof v === 'number' || typeof v === 'bigint' || v instanceof Float) return 2;
  if (typeof v === 'string') return 4;
  if (v instanceof Uint8Array) return 3;
  if (v instanceof Tuple) return 6;
  if (Array.isArray(v)) return 5;
  if (v instanceof Link) return 8;
  return 7;
}

type Num = { int: bigint } | { float: number };

function num(v: Value): Num {
  if (typeof v === 'bigint') return { int: v };
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { int: BigInt(v) } : { float: v };
  return { float: (v as Float).value };
}

function sign(x: number): number {
  return x < 0 ? -1 : x > 0 ? 1 : 0;
}

/** int vs finite-or-infinite non-NaN float, exactly; equal values put the int first. */
function intVsFloat(i: bigint, f: number): number {
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  if (Number.isInteger(f)) {
    const F = BigInt(f);
    return i < F ? -1 : i > F ? 1 : -1;
  }
  const floor = BigInt(Math.floor(f));
  return i <= floor ? -1 : 1;
}

function compareNum(a: Num, b: Num): number {
  if ('int' in a && 'int' in b) return a.int < b.int ? -1 : a.int > b.int ? 1 : 0;
  if ('float' in a && 'float' in b) {
    const an = Number.isNaN(a.float);
    const bn = Number.isNaN(b.float);
    if (an || bn) return an && bn ? 0 : an ? 1 : -1;
    return a.float < b.float ? -1 : a.float > b.float ? 1 : 0; // -0 == 0
  }
  if ('int' in a) {
    const f = (b as { float: number }).float;
    return Number.isNaN(f) ? -1 : intVsFloat(a.int, f);
  }
  const f = a.float;
  return Number.isNaN(f) ? 1 : -intVsFloat((b as { int: bigint }).int, f);
}

function compareByteArrays(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return sign(a.length - b.length);
}

const utf8 = new TextEncoder();

function compareSeq(a: readonly Value[], b: readonly Value[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = refCompare(a[i], b[i]);
    if (c !== 0) return c;
  }
  return sign(a.length - b.length);
}

function mapSeq(m: Map<Value, Value>): Value[] {
  const entries = [...m.entries()].sort((x, y) => refCompare(x[0], y[0]));
  return entries.flat();
}

/** The spec's total order on decoded values; returns -1, 0 or 1. */
export function refCompare(a: Value, b: Value): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return sign(ra - rb);
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return sign(Number(a) - Number(b));
    case 2:
      return compareNum(num(a), num(b));
    case 3:
      return compareByteArrays(a as Uint8Array, b as Uint8Array);
    case 4:
      return compareByteArrays(utf8.encode(a as string), utf8.encode(b as string));
    case 5:
      return compareSeq(a as Value[], b as Value[]);
    case 6:
      return compareSeq((a as Tuple).items, (b as Tuple).items);
    case 7:
      return compareSeq(mapSeq(a as Map<Value, Value>), mapSeq(b as Map<Value, Value>));
    default:
      return compareByteArrays((a as Link).id, (b as Link).id);
  }
}

