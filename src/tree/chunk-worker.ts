import { parentPort } from 'node:worker_threads';
import { type Chunk, ChunkStream, MAX_CHUNK } from './cdc.ts';

/**
 * The chunker thread: content-defined chunking and SHA-256 are the per-byte cost of an upload,
 * so they run here while the main thread serves RESP and writes segments. Uploads are kept
 * apart by number; each piece and each chunk crosses the thread boundary once, transferred.
 */
export type ToWorker =
  | { type: 'push'; upload: number; bytes: Uint8Array }
  | { type: 'recycle'; buffers: ArrayBuffer[] }
  | { type: 'finish'; upload: number }
  | { type: 'drop'; upload: number };

export type FromWorker =
  | { type: 'chunks'; upload: number; chunks: Chunk[]; consumed: number; final: boolean; spare: ArrayBuffer | null }
  | { type: 'failed'; upload: number; message: string };

/** Chunk buffers the main thread handed back once their blobs were written. */
const pool: ArrayBuffer[] = [];
const POOL_MAX = 8;
const BUFFER_BYTES = MAX_CHUNK + 5;

function alloc(size: number): Uint8Array {
  return new Uint8Array(pool.pop() ?? new ArrayBuffer(BUFFER_BYTES), 0, size);
}

const streams = new Map<number, ChunkStream>();
const port = parentPort;
if (port === null) throw new Error('chunk-worker.ts runs as a worker thread');

port.on('message', (m: ToWorker) => {
  if (m.type === 'recycle') {
    for (const b of m.buffers) if (pool.length < POOL_MAX && b.byteLength === BUFFER_BYTES) pool.push(b);
    return;
  }
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
    const chunks = final ? s.finish() : s.push(m.bytes);
    if (final) streams.delete(m.upload);
    // The piece's buffer goes back for reuse: allocating a fresh one per piece kept the main
    // thread's garbage collector busy.
    const spare = final ? null : (m.bytes.buffer as ArrayBuffer);
    const reply: FromWorker = { type: 'chunks', upload: m.upload, chunks, consumed: final ? 0 : m.bytes.length, final, spare };
    // Only a chunk that owns its whole buffer is transferred: small ones share Node's pool.
    const own = chunks.filter((c) => c.value.byteOffset === 0 && c.value.buffer.byteLength === (c.id === null ? c.value.byteLength : BUFFER_BYTES));
    port.postMessage(reply, [...own.map((c) => c.value.buffer as ArrayBuffer), ...(spare === null ? [] : [spare])]);
  } catch (e) {
    streams.delete(m.upload);
    port.postMessage({ type: 'failed', upload: m.upload, message: (e as Error).message } satisfies FromWorker);
  }
});
