/**
 * The value model shared by keys and values. JavaScript's `number` cannot tell 1 from 1.0, so
 * an integral float is carried in a `Float` wrapper; everything else maps onto a native type.
 */

/** A float whose value happens to be integral (or any float, when the caller wants to be explicit). */
export class Float {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

/** An ordered, fixed-length sequence; distinct from a list (msgpack has no tuple). */
export class Tuple {
  readonly items: readonly Value[];
  constructor(items: readonly Value[]) {
    this.items = items;
  }
}

/** A link to another tree root, by its multihash bytes. */
export class Link {
  readonly id: Uint8Array;
  constructor(id: Uint8Array) {
    this.id = id;
  }
}

/**
 * - `null` nil; `boolean`; integers as `number` (safe integers) or `bigint` (any size);
 * - non-integral `number` or `Float` for floats; `string`; `Uint8Array` for bytes;
 * - arrays are lists; `Tuple`; `Map` for maps; `Link` for tree links.
 */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | Float
  | string
  | Uint8Array
  | Value[]
  | Tuple
  | Map<Value, Value>
  | Link;

export function isInteger(v: Value): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}
