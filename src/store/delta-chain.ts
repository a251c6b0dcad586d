import { COPY, Diff, LITERAL, MIN_NODE, OpList, asBuffer, headLength, keyframeOf, readVarint, writeRecord } from './delta.ts';
import { ID_BYTES } from './id.ts';

/**
 * A node's delta against its base's keyframe (docs/format.md §8.1), made from the base's own
 * record instead of a search of the keyframe. A base several edits from its keyframe (random
 * writes keep editing the same leaves) makes that search find an anchor per edit; the node
 * differs from its base by a few edits (the runs the merge copied, else two long common runs),
 * and the base's record says where each run of the base comes from in the keyframe. Same format,
 * same readers: only how the ops are found differs. Undefined when the record would take more
 * than half the node, or does not stand for `base`: then no delta against the keyframe fits.
 */
export function encodeDeltaVia(baseRecord: Uint8Array, base: Uint8Array, node: Uint8Array, copied?: readonly number[]): Buffer | undefined {
  if (node.length < MIN_NODE) return undefined;
  const n = asBuffer(node);
  const b = asBuffer(base);
  const r = asBuffer(baseRecord);
  const h = headLength(n);
  const bh = headLength(b);
  const found = segments(r);
  if (found === undefined || found.body !== b.length - bh) return undefined;
  const { at: segAt, kind, pos: segPos, len: segLen } = found;
  const d = new Diff(n, b, bh, 0, Number.POSITIVE_INFINITY);
  if (copied === undefined || !d.fromRuns(h, copied)) d.run(h, n.length, bh, b.length, 0);
  const out = new OpList(2 + ID_BYTES + h);
  const limit = node.length >>> 1;
  let s = 0;
  for (let i = 0; i < d.ops.length && out.size <= limit; i += 4) {
    let pos = d.ops[i + 1];
    let len = d.ops[i + 2];
    if (d.ops[i] === LITERAL) {
      out.literal(pos, len);
      continue;
    }
    // Copies of the base come in base order, so the segment holding `pos` is found moving on.
    while (s > 0 && segAt[s] > pos) s--;
    while (len > 0) {
      while (segAt[s] + segLen[s] <= pos) s++;
      const into = pos - segAt[s];
      const take = Math.min(len, segLen[s] - into);
      // A copy of the base's copy is a copy of the keyframe; of its literal, a literal from the base's record.
      if (kind[s] === COPY) out.copy(segPos[s] + into, take);
      else out.literal(segPos[s] + into, take, 1);
      pos += take;
      len -= take;
    }
  }
  if (out.size > limit) return undefined;
  return writeRecord(keyframeOf(r), n, h, out.ops, out.size, [n, r]);
}

/** Scratch for `segments`: encoding is synchronous, so one set serves every call. */
const segs = { at: [] as number[], kind: [] as number[], pos: [] as number[], len: [] as number[], body: 0 };

/** The ops of a delta record as runs of the body it rebuilds: where each starts, and its source. */
function segments(r: Buffer): typeof segs | undefined {
  const { at, kind, pos, len } = segs;
  at.length = kind.length = pos.length = len.length = 0;
  let body = 0;
  const hr = r[1 + ID_BYTES];
  if (hr === undefined) return undefined;
  for (let p = 2 + ID_BYTES + hr; p < r.length; ) {
    const op = r[p++];
    if (op === COPY) {
      const a = readVarint(r, p);
      const l = a === undefined ? undefined : readVarint(r, a[1]);
      if (a === undefined || l === undefined) return undefined;
      at.push(body);
      kind.push(COPY);
      pos.push(a[0]);
      len.push(l[0]);
      body += l[0];
      p = l[1];
    } else if (op === LITERAL) {
      const l = readVarint(r, p);
      if (l === undefined || l[1] + l[0] > r.length) return undefined;
      at.push(body);
      kind.push(LITERAL);
      pos.push(l[1]);
      len.push(l[0]);
      body += l[0];
      p = l[1] + l[0];
    } else return undefined;
  }
  segs.body = body;
  return segs;
}
