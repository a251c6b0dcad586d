import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AVG_CHUNK, MAX_CHUNK, MIN_CHUNK } from '../../src/tree/cdc.ts';
import { streamCuts } from './helpers.ts';
import { specBytes } from './spec-bytes.ts';

/** docs/format.md §11's cut rule, written plainly: the oracle for the WebAssembly scan. */
const GEAR = Array.from({ length: 256 }, (_, i) => createHash('sha256').update(Uint8Array.of(i)).digest().readInt32BE(0));
function referenceCuts(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let start = 0; start < b.length; ) {
    const n = b.length - start;
    let end = b.length;
    if (n > MIN_CHUNK) {
      const stop = Math.min(b.length, start + MAX_CHUNK);
      const mid = Math.min(stop, start + AVG_CHUNK);
      end = stop;
      let h = 0;
      for (let i = start + MIN_CHUNK; i + 1 < stop; i += 2) {
        h = ((h << 2) + (GEAR[b[i]] << 1) + GEAR[b[i + 1]]) | 0;
        if ((h & (i + 1 < mid ? 0xffffe000 : 0xfffe0000)) === 0) {
          end = i + 2;
          break;
        }
      }
    }
    out.push(end);
    start = end;
  }
  return out;
}

describe('content-defined chunking', () => {
  it('cuts where the plain rule cuts, over random bytes and whatever the piece size', () => {
    const data = specBytes(9 * MAX_CHUNK + 4321);
    const expected = referenceCuts(data);
    expect(expected.length).toBeGreaterThan(20);
    for (const piece of [data.length, 1_048_573, 65_536, 7_919]) expect(streamCuts(data, piece)).toEqual(expected);
  });

  it('cuts at MAX when the hash never hits, and keeps a short tail whole', () => {
    const zeros = new Uint8Array(3 * MAX_CHUNK + 10);
    expect(referenceCuts(zeros)).toEqual([MAX_CHUNK, 2 * MAX_CHUNK, 3 * MAX_CHUNK, 3 * MAX_CHUNK + 10]);
    expect(streamCuts(zeros, 300_000)).toEqual(referenceCuts(zeros));
    const short = specBytes(MIN_CHUNK + 1);
    expect(streamCuts(short)).toEqual(referenceCuts(short));
  });

  it('takes pieces larger than its buffer', () => {
    const data = specBytes(5 * MAX_CHUNK);
    expect(streamCuts(data, 5 * MAX_CHUNK)).toEqual(referenceCuts(data));
  });
});
