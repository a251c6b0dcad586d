import { hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/**
 * The hashing thread of the block exchange: SHA-256 is the clone's largest per-byte cost after
 * the link's own ciphers, so big blocks are hashed here while the main thread reads the next
 * ones off the stream. Each block crosses the boundary transferred, there and back.
 */
export interface ToHasher {
  n: number;
  bytes: Uint8Array;
}

export interface FromHasher {
  n: number;
  bytes: Uint8Array;
  digest: Uint8Array;
}

const port = parentPort;
if (port === null) throw new Error('hash-worker.ts runs as a worker thread');

port.on('message', (m: ToHasher) => {
  const reply: FromHasher = { n: m.n, bytes: m.bytes, digest: hash('sha256', m.bytes, 'buffer') };
  port.postMessage(reply, [m.bytes.buffer as ArrayBuffer]);
});
