import { Worker } from 'node:worker_threads';
import { CrissError } from '../errors.ts';
import type { Chunk } from './cdc.ts';
import type { FromWorker, ToWorker } from './chunk-worker.ts';

/** Bytes handed to the thread and not yet chunked, past which an upload waits. */
const MAX_BACKLOG = 2 * 1024 * 1024;
/** Chunk buffers handed back to the thread per message. */
const RECYCLE_BATCH = 4;
/** Piece buffers kept for reuse, and the smallest one worth keeping. */
const SPARES = 8;
const SPARE_BYTES = 1024 * 1024;

interface Session {
  onChunks: (chunks: Chunk[]) => void;
  backlog: number;
  waiting: Array<() => void>;
  finished: PromiseWithResolvers<void> | null;
  failure: CrissError | null;
}

/**
 * The main thread's side of chunk-worker.ts: one thread for every upload, started on first use
 * and unref'd so it never keeps the process alive. Each upload's chunks arrive in order.
 */
export class ChunkerThread {
  private worker: Worker | null = null;
  private readonly sessions = new Map<number, Session>();
  private readonly spares: ArrayBuffer[] = [];
  private readonly returned: ArrayBuffer[] = [];
  private next = 1;

  private thread(): Worker {
    if (this.worker !== null) return this.worker;
    // A small young generation: the thread's garbage is chunk buffers, and RSS must stay flat.
    const w = new Worker(new URL('./chunk-worker.ts', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    w.unref();
    w.on('message', (m: FromWorker) => this.received(m));
    w.on('error', (err) => this.failAll(new CrissError('ERR', `the chunker thread failed: ${err.message}`)));
    w.on('exit', () => {
      if (this.worker === w) this.worker = null;
      this.failAll(new CrissError('ERR', 'the chunker thread exited'));
    });
    this.worker = w;
    return w;
  }

  /** A new upload; `onChunks` receives its chunks in file order. */
  open(onChunks: (chunks: Chunk[]) => void): ChunkerSession {
    const id = this.next++;
    this.sessions.set(id, { onChunks, backlog: 0, waiting: [], finished: null, failure: null });
    return new ChunkerSession(this, id);
  }

  /** Sends a copy of `piece`; resolves once the backlog allows more. */
  async push(id: number, piece: Uint8Array): Promise<void> {
    const s = this.session(id);
    const spare = this.spares.length > 0 && (this.spares.at(-1) as ArrayBuffer).byteLength >= piece.length ? this.spares.pop() : undefined;
    const bytes = new Uint8Array(spare ?? new ArrayBuffer(Math.max(piece.length, SPARE_BYTES)), 0, piece.length);
    bytes.set(piece);
    s.backlog += bytes.length;
    this.post({ type: 'push', upload: id, bytes }, [bytes.buffer]);
    while (s.backlog > MAX_BACKLOG && s.failure === null) await new Promise<void>((r) => s.waiting.push(r));
    if (s.failure !== null) throw s.failure;
  }

  /** Resolves once the last chunk has been delivered. */
  finish(id: number): Promise<void> {
    const s = this.session(id);
    s.finished = Promise.withResolvers<void>();
    this.post({ type: 'finish', upload: id });
    return s.finished.promise;
  }

  /** Hands a chunk's buffer back to the thread once nothing refers to it any more. */
  recycle(value: Uint8Array): void {
    const b = value.buffer;
    if (this.worker === null || !(b instanceof ArrayBuffer) || value.byteOffset !== 0) return;
    this.returned.push(b);
    if (this.returned.length >= RECYCLE_BATCH) this.flushReturned();
  }

  private flushReturned(): void {
    const buffers = this.returned.splice(0);
    if (buffers.length > 0 && this.worker !== null) this.post({ type: 'recycle', buffers }, buffers);
  }

  drop(id: number): void {
    if (!this.sessions.delete(id)) return;
    if (this.worker !== null) this.post({ type: 'drop', upload: id });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w !== null) await w.terminate();
  }

  private session(id: number): Session {
    const s = this.sessions.get(id);
    if (s === undefined) throw new CrissError('ERR', 'this upload is finished');
    if (s.failure !== null) throw s.failure;
    return s;
  }

  private post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.thread().postMessage(m, transfer);
  }

  private received(m: FromWorker): void {
    if (m.type === 'chunks' && m.spare !== null && m.spare.byteLength >= SPARE_BYTES && this.spares.length < SPARES) this.spares.push(m.spare);
    const s = this.sessions.get(m.upload);
    if (s === undefined) return;
    if (m.type === 'failed') {
      this.fail(s, new CrissError('ERR', `chunking failed: ${m.message}`));
      return;
    }
    try {
      s.onChunks(m.chunks);
    } catch (e) {
      this.fail(s, e instanceof CrissError ? e : new CrissError('ERR', (e as Error).message));
      return;
    }
    s.backlog -= m.consumed;
    if (s.backlog <= MAX_BACKLOG) for (const r of s.waiting.splice(0)) r();
    if (m.final) {
      this.sessions.delete(m.upload);
      s.finished?.resolve();
    }
  }

  private fail(s: Session, err: CrissError): void {
    s.failure = err;
    for (const r of s.waiting.splice(0)) r();
    s.finished?.reject(err);
  }

  private failAll(err: CrissError): void {
    for (const s of this.sessions.values()) this.fail(s, err);
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

  recycle(value: Uint8Array): void {
    this.thread.recycle(value);
  }

  drop(): void {
    this.thread.drop(this.id);
  }
}
