import { Float, Link, Tuple, decodeValue, type Value } from '../codec/index.ts';
import { idToText } from '../store/id.ts';

/**
 * Text for a stored value (canonical msgpack) on a terminal or in a pipe. Bytes and strings,
 * what the CLI and the *BIN commands write, come out as their raw bytes, so `put` then `diff` or
 * `range` round-trips; other types get a compact literal form.
 */
export function renderValue(canonical: Uint8Array): Buffer {
  const v = decodeValue(canonical, { strict: false });
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === 'string') return Buffer.from(v);
  return Buffer.from(literal(v));
}

function literal(v: Value): string {
  if (v === null) return 'nil';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Float) return Number.isInteger(v.value) ? v.value.toFixed(1) : String(v.value);
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  if (v instanceof Link) return `link:${idToText(v.id)}`;
  if (v instanceof Tuple) return `(${v.items.map(literal).join(', ')})`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${literal(k)}: ${literal(x)}`).join(', ')}}`;
  return `[${v.map(literal).join(', ')}]`;
}
