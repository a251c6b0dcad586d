import { type Value, compareEncoded, encodeValue } from '../codec/index.ts';
import { ByteWriter, writeValue } from '../codec/encode.ts';
import type { SqlResult } from './engine.ts';

const COLUMNS = encodeValue('columns');
const ROWS = encodeValue('rows');
/** A canonical map orders its entries by their keys' bytes. */
const ROWS_FIRST = compareEncoded(ROWS, COLUMNS) < 0;
/** fixmap header of two entries. */
const MAP2 = 0x82;

/**
 * One statement's result as the canonical msgpack map a SQL/SQLREAD reply carries. The query
 * form is written directly (the same bytes as encodeValue of the map): a batch of lookups
 * encodes one per statement, and the general map path encodes and sorts its keys each time.
 */
export function encodeResult(r: SqlResult): Uint8Array {
  if ('changes' in r) return encodeValue(new Map<Value, Value>([['changes', r.changes]]));
  const w = new ByteWriter(64);
  w.u8(MAP2);
  const [k1, v1, k2, v2] = ROWS_FIRST ? [ROWS, r.rows, COLUMNS, r.columns] : [COLUMNS, r.columns, ROWS, r.rows];
  w.bytes(k1);
  writeValue(w, v1, 1);
  w.bytes(k2);
  writeValue(w, v2, 1);
  return w.finish();
}
