import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CrissError } from '../errors.ts';
import type { FromWorker, ToWorker } from './chunk-messages.ts';
import { type Cut, blobHead } from './chunk-stream.ts';
import { UploadRing } from './upload-ring.ts';

/** The worker's module, next to this one and of its kind: `.ts` in src/, `.js` in the bin's build (bin/build.js). */
const WORKER = new URL(`./chunk-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** A write into the ring waits for room for this much of its piece (or all of a smaller one), not for every byte. */
const MIN_WRITE = 1024 * 1024;
/** Rings kept for the next uploads: each is a shared memory of 6 MiB, and `upload_dir` opens one per file. */
const MAX_FREE_RINGS = 2;

/** One chunk of an upload, in file order. */
export interface UploadChunk {
  offset: number;
  /** The file's bytes the chunk holds. */
  length: number;
  /** The chunk's canonical value: one buffer (an inline chunk), or a blob's head and its bytes, which lie in the upload's ring until released. */
  value: readonly Uint8Array[];
  /** The blob's id (sha2-256 of the value); null for a chunk short enough to stay inline. */
  id: Uint8Array | null;
}

interface Session {
  onChunks: (chunks: UploadChunk[]) => void;
  /** The thread that chunks this upload, from its first byte on. */
  thread: Thread | null;
  ring: UploadRing | null;
  /** File bytes written into the ring. */
  written: number;
  /** Every byte before this file offset is released: the ring may take new bytes there. */
  released: number;
  /** Chunks delivered and not yet released, in file order, from `head` on; `settled` holds those released out of order. */
  delivered: UploadChunk[];
  head: number;
  settled: Set<UploadChunk>;
  /** The thread is done with the ring: it sent the final chunks. */
  threadDone: boolean;
  waiting: Array<() => void>;
  finished: PromiseWithResolvers<void> | null;
  failure: CrissError | null;
}

interface Thread {
  worker: Worker;
}

/**
 * The main thread's side of chunk-worker.ts: one thread for every upload, started on first use
 * and unref'd so it never keeps the process alive. Each upload's chunks arrive in order; each is
 * released (`release`) once stored, which makes room in the upload's ring.
 */
export class ChunkerThread {
  private current: Thread | null = null;
  private readonly sessions = new Map<number, Session>();
  private readonly freeRings: UploadRing[] = [];
  private next = 1;

  private thread(): Thread {
    if (this.current !== null) return this.current;
    // A small young generation: the thread's garbage is small, and RSS must stay flat.
    const worker = new Worker(WORKER, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const t: Thread = { worker };
    worker.unref();
    worker.on('message', (m: FromWorker) => this.received(m));
    worker.on('error', (err) => this.failAll(t, new CrissError('ERR', `the chunker thread failed: ${err.message}`)));
    worker.on('exit', () => {
      if (this.current === t) this.current = null;
      this.failAll(t, new CrissError('ERR', 'the chunker thread exited'));
    });
    this.current = t;
    return t;
  }

  /** A new upload; `onChunks` receives its chunks in file order. */
  open(onChunks: (chunks: UploadChunk[]) => void): ChunkerSession {
    const id = this.next++;
    this.sessions.set(id, {
      onChunks, thread: null, ring: null, written: 0, released: 0, delivered: [], head: 0, settled: new Set(),
      threadDone: false, waiting: [], finished: null, failure: null,
    });
    return new ChunkerSession(this, id);
  }

  /** Copies `piece` into the upload's ring as room allows; resolves once all of it is in. */
  async push(id: number, piece: Uint8Array): Promise<void> {
    const s = this.session(id);
    for (let at = 0; at < piece.length;) {
      const ring = this.ringOf(id, s);
      const want = Math.min(piece.length - at, MIN_WRITE);
      while (UploadRing.room(s.written, s.released) < want) {
        await new Promise<void>((r) => s.waiting.push(r));
        this.session(id);
      }
      const n = Math.min(piece.length - at, UploadRing.room(s.written, s.released));
      ring.write(s.written, piece.subarray(at, at + n));
      s.written += n;
      at += n;
      this.post(s, { type: 'push', upload: id, end: s.written });
    }
  }

  /** Resolves once the last chunk has been delivered. */
  finish(id: number): Promise<void> {
    const s = this.session(id);
    if (s.ring === null) {
      // An empty file: no chunks, and no thread asked.
      this.sessions.delete(id);
      return Promise.resolve();
    }
    s.finished = Promise.withResolvers<void>();
    this.post(s, { type: 'finish', upload: id, end: s.written });
    return s.finished.promise;
  }

  /** The chunk is stored, or will never be: its bytes in the ring may be overwritten. */
  release(id: number, chunk: UploadChunk): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    s.settled.add(chunk);
    let moved = false;
    while (s.head < s.delivered.length && s.settled.delete(s.delivered[s.head])) {
      const c = s.delivered[s.head++];
      s.released = c.offset + c.length;
      moved = true;
    }
    if (s.head === s.delivered.length) {
      s.delivered.length = 0;
      s.head = 0;
    }
    if (moved) for (const r of s.waiting.splice(0)) r();
    this.retire(id, s);
  }

  /** Once the thread is done and every chunk stored, no write reads the ring any more: the next upload may. */
  private retire(id: number, s: Session): void {
    if (!s.threadDone || s.failure !== null || s.delivered.length > 0) return;
    // Once only: the ring must not go to two uploads.
    if (!this.sessions.delete(id)) return;
    if (s.thread === this.current && this.freeRings.length < MAX_FREE_RINGS) this.freeRings.push(s.ring as UploadRing);
  }

  /** Rings lent to uploads and not back yet: 0 once every upload is done and its chunks released. */
  get ringsLent(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.ring !== null) n++;
    return n;
  }

  /**
   * Forgets an upload. Its ring is not reused: appends of its chunks may still be reading it, and
   * it goes when the last of them lets go.
   */
  drop(id: number): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    this.sessions.delete(id);
    this.fail(s, new CrissError('ERR', 'this upload is finished'));
    if (s.thread !== null && !s.threadDone && s.thread === this.current) s.thread.worker.postMessage({ type: 'drop', upload: id } satisfies ToWorker);
  }

  async close(): Promise<void> {
    const t = this.current;
    this.current = null;
    if (t !== null) await t.worker.terminate();
  }

  private session(id: number): Session {
    const s = this.sessions.get(id);
    if (s === undefined) throw new CrissError('ERR', 'this upload is finished');
    if (s.failure !== null) throw s.failure;
    return s;
  }

  /** The upload's ring, opened on its thread (the current one) with its first byte. */
  private ringOf(id: number, s: Session): UploadRing {
    if (s.ring !== null) return s.ring;
    s.thread = this.thread();
    s.ring = this.freeRings.pop() ?? new UploadRing();
    this.post(s, { type: 'open', upload: id, memory: s.ring.memory });
    return s.ring;
  }

  /**
   * To the upload's thread. A thread started since knows nothing of the bytes sent before: such
   * an upload fails rather than go on there.
   */
  private post(s: Session, m: ToWorker): void {
    if (s.thread !== this.current || s.thread === null) throw new CrissError('ERR', 'the chunker thread exited');
    s.thread.worker.postMessage(m);
  }

  private chunkOf(s: Session, c: Cut): UploadChunk {
    const value = c.inline !== null ? [c.inline] : [blobHead(c.length), (s.ring as UploadRing).view(c.offset, c.length)];
    return { offset: c.offset, length: c.length, value, id: c.id };
  }

  private received(m: FromWorker): void {
    const s = this.sessions.get(m.upload);
    if (s === undefined) return;
    if (m.type === 'failed') {
      s.threadDone = true;
      this.fail(s, new CrissError('ERR', `chunking failed: ${m.message}`));
      return;
    }
    s.threadDone = m.final;
    const chunks = m.chunks.map((c) => this.chunkOf(s, c));
    s.delivered.push(...chunks);
    try {
      s.onChunks(chunks);
    } catch (e) {
      this.fail(s, e instanceof CrissError ? e : new CrissError('ERR', (e as Error).message));
      return;
    }
    if (m.final) {
      s.finished?.resolve();
      this.retire(m.upload, s);
    }
  }

  private fail(s: Session, err: CrissError): void {
    s.failure ??= err;
    for (const r of s.waiting.splice(0)) r();
    s.finished?.reject(err);
  }

  private failAll(t: Thread, err: CrissError): void {
    for (const [id, s] of this.sessions) {
      if (s.thread !== t) continue;
      s.threadDone = true;
      this.fail(s, err);
      this.sessions.delete(id);
    }
  }
}

export class ChunkerSession {
  private readonly thread: ChunkerThread;
  private readonly id: number;

  constructor(thread: ChunkerThread, id: number) {
    this.thread = thread;
    this.id = id;
  }

  push(piece: Uint8Array): Promise<void> {
    return this.thread.push(this.id, piece);
  }

  finish(): Promise<void> {
    return this.thread.finish(this.id);
  }

  release(chunk: UploadChunk): void {
    this.thread.release(this.id, chunk);
  }

  drop(): void {
    this.thread.drop(this.id);
  }
}
