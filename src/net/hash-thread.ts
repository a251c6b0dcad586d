import { hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Uint8ArrayList } from 'uint8arraylist';
import { CrissError } from '../errors.ts';
import { ID_PREFIX_BYTES, type Id, isId } from '../store/id.ts';
import type { FromHasher, ToHasher } from './hash-worker.ts';

/** Below this a block is hashed on the spot: a message to the thread costs more than the hash. */
const THREAD_MIN_BYTES = 64 * 1024;

/**
 * Blocks checked against their ids on one thread shared by every cluster node, started on
 * first use and unref'd so it never keeps the process alive.
 */
class HashThread {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, PromiseWithResolvers<FromHasher>>();
  private next = 1;

  private thread(): Worker {
    if (this.worker !== null) return this.worker;
    // Its garbage is one reply per block: a small young generation keeps its RSS flat.
    const w = new Worker(new URL('./hash-worker.ts', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    w.unref();
    w.on('message', (m: FromHasher) => {
      this.waiting.get(m.n)?.resolve(m);
      this.waiting.delete(m.n);
    });
    const fail = (err: Error): void => {
      // The first of its error and exit fails what waits; a thread started since has its own.
      if (this.worker !== w) return;
      this.worker = null;
      for (const p of this.waiting.values()) p.reject(new CrissError('ERR', `the hashing thread failed: ${err.message}`));
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', () => fail(new Error('it exited')));
    this.worker = w;
    return w;
  }

  /** `bytes` (moved to the thread and back, so it must own its buffer) and its SHA-256. */
  digest(bytes: Uint8Array): Promise<FromHasher> {
    const n = this.next++;
    const p = Promise.withResolvers<FromHasher>();
    this.waiting.set(n, p);
    const m: ToHasher = { n, bytes };
    this.thread().postMessage(m, [bytes.buffer as ArrayBuffer]);
    return p.promise;
  }
}

const shared = new HashThread();

function matches(digest: Uint8Array, id: Id): boolean {
  return Buffer.compare(digest, id.subarray(ID_PREFIX_BYTES)) === 0;
}

/**
 * The block held in `frame` from byte `skip` on, in a buffer of its own, if its sha2-256
 * multihash is `id`; undefined if not. Big blocks are copied out of the stream's chunks into a
 * fresh buffer (the one copy a received block takes anyway) and hashed on the thread.
 */
export async function verified(frame: Uint8ArrayList, skip: number, id: Id): Promise<Uint8Array | undefined> {
  const length = frame.byteLength - skip;
  if (!isId(id)) return undefined;
  if (length < THREAD_MIN_BYTES) {
    const bytes = frame.subarray(skip);
    return matches(hash('sha256', bytes, 'buffer'), id) ? bytes : undefined;
  }
  const own = new Uint8Array(new ArrayBuffer(length));
  let at = -skip;
  for (const chunk of frame) {
    if (at >= 0) own.set(chunk, at);
    else if (at + chunk.length > 0) own.set(chunk.subarray(-at), 0);
    at += chunk.length;
  }
  const back = await shared.digest(own);
  return matches(back.digest, id) ? Buffer.from(back.bytes.buffer, back.bytes.byteOffset, back.bytes.length) : undefined;
}
