import { parentPort, workerData } from 'node:worker_threads';
import { type Chunk, ChunkStream } from './cdc.ts';
import { CHUNK_SLOT, CHUNK_SLOTS, type FromWorker, PIECE_SLOT, type SharedSlots, type ToWorker, type WireChunk } from './chunk-slots.ts';

/**
 * The chunker thread: content-defined chunking and SHA-256 are the per-byte cost of an upload,
 * so they run here while the main thread serves RESP and writes segments. Uploads are kept
 * apart by number; bytes come and go through the slots of chunk-slots.ts.
 */
const port = parentPort;
if (port === null) throw new Error('chunk-worker.ts runs as a worker thread');
const slots = workerData as SharedSlots;
const freeSlots = Array.from({ length: CHUNK_SLOTS }, (_, i) => CHUNK_SLOTS - 1 - i);

function alloc(size: number): Uint8Array {
  const slot = freeSlots.pop();
  return slot === undefined ? new Uint8Array(size) : new Uint8Array(slots.chunks, slot * CHUNK_SLOT, size);
}

function wire(c: Chunk, transfer: ArrayBuffer[]): WireChunk {
  const id = c.id === null ? null : new Uint8Array(c.id);
  if (c.value.buffer === slots.chunks) return { offset: c.offset, id, slot: c.value.byteOffset / CHUNK_SLOT, length: c.value.length, value: null };
  // Only a value that owns its whole buffer is transferred: small ones share Node's pool.
  if (c.value.byteOffset === 0 && c.value.buffer.byteLength === c.value.length) transfer.push(c.value.buffer as ArrayBuffer);
  return { offset: c.offset, id, slot: -1, length: c.value.length, value: c.value };
}

const streams = new Map<number, ChunkStream>();

port.on('message', (m: ToWorker) => {
  if (m.type === 'recycle') {
    freeSlots.push(...m.slots);
    return;
  }
  const freed = m.type === 'push' ? m.slot : -1;
  try {
    if (m.type === 'drop') {
      streams.delete(m.upload);
      return;
    }
    let s = streams.get(m.upload);
    if (s === undefined) {
      s = new ChunkStream(alloc);
      streams.set(m.upload, s);
    }
    const final = m.type === 'finish';
    // The stream copies the piece in, so its slot is free once push returns.
    const chunks = final ? s.finish() : s.push(new Uint8Array(slots.pieces, m.slot * PIECE_SLOT, m.length));
    if (final) streams.delete(m.upload);
    const transfer: ArrayBuffer[] = [];
    const reply: FromWorker = { type: 'chunks', upload: m.upload, chunks: chunks.map((c) => wire(c, transfer)), consumed: final ? 0 : m.length, final, freed };
    port.postMessage(reply, transfer);
  } catch (e) {
    streams.delete(m.upload);
    port.postMessage({ type: 'failed', upload: m.upload, message: (e as Error).message, freed } satisfies FromWorker);
  }
});
