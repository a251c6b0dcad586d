import { Buffer } from 'node:buffer';
import { Float, decodeValue, skipValue } from '../codec/index.ts';
import { EXT_BIGINT, RANK_BYTES, RANK_NIL, RANK_NUMBER, RANK_STRING } from '../codec/format.ts';
import { Head, readHead } from '../codec/head.ts';
import type { SqlValue } from './sqlite.ts';
import { textAt } from './text.ts';

/**
 * Row values read straight from the bytes of parsed tree nodes (or of keys and values the
 * engine encoded itself). Those bytes were checked canonical when the node was parsed, so an
 * SQL scalar is built from its header alone; decodeValue and skipValue would allocate a reader
 * and re-check every value, several times per row of a range. Anything but a scalar goes
 * through them.
 */
const head = new Head();
let end = 0;

/** Where the value last read by `scalarAt` or `skipAt` ends. */
export function lastEnd(): number {
  return end;
}

/** Fills `head` at `p`; returns the value's end when it is a scalar, else -1. */
function scalarHead(b: Uint8Array, p: number): number {
  readHead(b, p, head);
  switch (head.rank) {
    case RANK_NIL:
      return head.start;
    case RANK_NUMBER:
      return head.extType === EXT_BIGINT ? head.start + head.len : head.start;
    case RANK_BYTES:
    case RANK_STRING:
      return head.start + head.len;
    default:
      return -1;
  }
}

/** The value at `b[p]`, as decodeValue would give it; `lastEnd()` then says where it ends. */
export function scalarAt(b: Uint8Array, p: number): SqlValue {
  const e = scalarHead(b, p);
  if (e < 0) {
    end = skipValue(b, p);
    return decodeValue(b.subarray(p, end)) as SqlValue;
  }
  end = e;
  switch (head.rank) {
    case RANK_NIL:
      return null;
    case RANK_NUMBER:
      if (head.isFloat) return Number.isInteger(head.num) ? new Float(head.num) : head.num;
      return head.big ?? head.num;
    case RANK_BYTES:
      return Buffer.from(b.subarray(head.start, e));
    default:
      return textAt(b, head.start, e);
  }
}

/** The end of the value at `b[p]`. */
export function skipAt(b: Uint8Array, p: number): number {
  const e = scalarHead(b, p);
  end = e < 0 ? skipValue(b, p) : e;
  return end;
}
