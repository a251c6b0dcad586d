import { type Value, encodeValue } from '../codec/index.ts';
import type { SqlResult } from './engine.ts';

/** One statement's result as the canonical msgpack map a SQL/SQLREAD reply carries. */
export function encodeResult(r: SqlResult): Uint8Array {
  if ('changes' in r) return encodeValue(new Map<Value, Value>([['changes', r.changes]]));
  return encodeValue(new Map<Value, Value>([['columns', r.columns], ['rows', r.rows]]));
}
