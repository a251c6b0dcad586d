import { MAX_VALUE_BYTES } from '../codec/format.ts';
import { CrissError } from '../errors.ts';
import type { BlockKind } from '../store/blockstore.ts';
import { ID_BYTES, type Id, idToText } from '../store/id.ts';
import { lengthPrefix } from './frames.ts';

/** The frames of the block exchange (docs/blocks-protocol.md), shared by its server and client. */
/** docs/blocks-protocol.md */
export const BLOCKS_PROTOCOL = '/crisscross/blocks/1.0.0';
export const MAX_WANTS = 256;
/** A frame holds one block at most: the largest blob plus its type byte. */
export const MAX_FRAME = MAX_VALUE_BYTES + 1;
const WANT = 0x01;
export const BLOCK = 0x02;
export const NONE = 0x03;
const KIND_NODE = 0;
const KIND_BLOB = 1;
export const ENTRY_BYTES = 1 + ID_BYTES;
/** A block stream idle this long is closed. */
export const IDLE_MS = 60_000;

export interface Want {
  kind: BlockKind;
  id: Id;
}

export function encodeWant(wants: Want[]): Buffer {
  const out = Buffer.allocUnsafe(3 + wants.length * ENTRY_BYTES);
  out[0] = WANT;
  out.writeUInt16BE(wants.length, 1);
  wants.forEach((w, i) => {
    out[3 + i * ENTRY_BYTES] = w.kind === 'node' ? KIND_NODE : KIND_BLOB;
    out.set(w.id, 4 + i * ENTRY_BYTES);
  });
  return out;
}

export function decodeWant(frame: Uint8Array): Want[] {
  if (frame.length < 3 || frame[0] !== WANT) throw new Error('not a want-list');
  const n = (frame[1] << 8) | frame[2];
  if (n < 1 || n > MAX_WANTS || frame.length !== 3 + n * ENTRY_BYTES) throw new Error(`bad want-list of ${n} entries`);
  return Array.from({ length: n }, (_, i) => {
    const k = frame[3 + i * ENTRY_BYTES];
    if (k !== KIND_NODE && k !== KIND_BLOB) throw new Error('bad block kind');
    const o = 4 + i * ENTRY_BYTES;
    return { kind: k === KIND_NODE ? 'node' : 'blob', id: Buffer.from(frame.subarray(o, o + ID_BYTES)) };
  });
}

const NONE_FRAME = Buffer.of(1, NONE);
const BLOCK_TYPE = Buffer.of(BLOCK);

/** A BLOCK frame (or NONE) as pieces, so the block itself is never copied to be framed. */
export function frameOf(block: Uint8Array | undefined): Uint8Array[] {
  return block === undefined ? [NONE_FRAME] : [lengthPrefix(block.length + 1), BLOCK_TYPE, block];
}

/** A peer sent a block that does not hash to the id asked for: it is dropped. */
export class LyingPeerError extends CrissError {
  readonly peer: string;

  constructor(peer: string, id: Id) {
    super('BADBLOCK', `peer ${peer} sent a block that does not match ${idToText(id)}`);
    this.name = 'LyingPeerError';
    this.peer = peer;
  }
}
