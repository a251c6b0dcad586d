import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './chunk-messages.ts';
import { ChunkStream } from './chunk-stream.ts';
import { UploadRing } from './upload-ring.ts';

/**
 * The chunker thread: content-defined chunking and SHA-256 are the per-byte cost of an upload,
 * so they run here while the main thread serves RESP and writes segments. Uploads are kept
 * apart by number; their bytes lie in rings this thread shares with the main thread.
 */
const port = parentPort;
if (port === null) throw new Error('chunk-worker.ts runs as a worker thread');

const streams = new Map<number, ChunkStream>();

function post(m: FromWorker): void {
  port?.postMessage(m);
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') {
    streams.set(m.upload, new ChunkStream(new UploadRing(m.memory)));
    return;
  }
  if (m.type === 'drop') {
    streams.delete(m.upload);
    return;
  }
  const s = streams.get(m.upload);
  // Failed already, and the main thread knows.
  if (s === undefined) return;
  try {
    const final = m.type === 'finish';
    const chunks = s.cut(m.end, final);
    if (final) streams.delete(m.upload);
    post({ type: 'chunks', upload: m.upload, chunks, final });
  } catch (e) {
    streams.delete(m.upload);
    post({ type: 'failed', upload: m.upload, message: (e as Error).message });
  }
});
