import { LINK_HEADER } from '../store/id.ts';
import * as F from './format.ts';
import { Head, readHead } from './head.ts';

const HEADER = Buffer.from(LINK_HEADER);

/** Every link inside a canonical value, however deeply nested (walks, GC and clones follow them). */
export function linksIn(b: Uint8Array, start = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  // Cheap pre-checks: bytes and strings (a file's chunks) hold no link, and every link starts with the same header.
  if (start >= b.length || holdsNoLinks(b[start]) || Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(HEADER) < 0) return out;
  collect(b, start, out, new Head());
  return out;
}

/** Whether a value starting with `tag` is bytes or a string, which never hold a link however long. */
export function holdsNoLinks(tag: number): boolean {
  return (tag >= F.BIN8 && tag <= F.BIN32) || (tag >= F.STR8 && tag <= F.STR32) || (tag >= 0xa0 && tag <= 0xbf);
}

function collect(b: Uint8Array, p: number, out: Uint8Array[], h: Head): number {
  readHead(b, p, h);
  switch (h.rank) {
    case F.RANK_LINK:
      out.push(b.subarray(h.start, h.start + h.len));
      return h.start + h.len;
    case F.RANK_TUPLE:
      collect(b, h.start, out, new Head());
      return h.start + h.len;
    case F.RANK_LIST:
    case F.RANK_MAP: {
      const n = h.rank === F.RANK_MAP ? h.len * 2 : h.len;
      let q = h.start;
      const inner = new Head();
      for (let i = 0; i < n; i++) q = collect(b, q, out, inner);
      return q;
    }
    case F.RANK_BYTES:
    case F.RANK_STRING:
      return h.start + h.len;
    default:
      return h.extType === F.EXT_BIGINT ? h.start + h.len : h.start;
  }
}
