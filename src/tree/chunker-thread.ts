import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CrissError } from '../errors.ts';
import type { Chunk } from './cdc.ts';
import { CHUNK_SLOT, CHUNK_SLOTS, type FromWorker, PIECE_SLOT, PIECE_SLOTS, type SharedSlots, type ToWorker, type WireChunk } from './chunk-slots.ts';

/** The worker's module, next to this one and of its kind: `.ts` in src/, `.js` in the bin's build (bin/build.js). */
const WORKER = new URL(`./chunk-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** Bytes handed to the thread and not yet chunked, past which an upload waits. */
const MAX_BACKLOG = 2 * 1024 * 1024;

interface Session {
  onChunks: (chunks: Chunk[]) => void;
  /** The thread holding this upload's chunking state, from its first message on. */
  thread: Thread | null;
  backlog: number;
  waiting: Array<() => void>;
  finished: PromiseWithResolvers<void> | null;
  failure: CrissError | null;
}

/** One running thread and the slots it shares with this one. */
interface Thread {
  worker: Worker;
  slots: SharedSlots;
  freePieces: number[];
  /** Pushes waiting for a free piece slot. */
  slotWaiters: Array<() => void>;
  /** Chunk slots to hand back, sent together once the current microtasks are done. */
  returned: number[];
  /** Chunk slots received and not yet handed back. */
  held: number;
}

/**
 * The main thread's side of chunk-worker.ts: one thread for every upload, started on first use
 * and unref'd so it never keeps the process alive. Each upload's chunks arrive in order.
 */
export class ChunkerThread {
  private current: Thread | null = null;
  private readonly sessions = new Map<number, Session>();
  private next = 1;

  private thread(): Thread {
    if (this.current !== null) return this.current;
    const slots: SharedSlots = { pieces: new SharedArrayBuffer(PIECE_SLOTS * PIECE_SLOT), chunks: new SharedArrayBuffer(CHUNK_SLOTS * CHUNK_SLOT) };
    // A small young generation: the thread's garbage is small, and RSS must stay flat.
    const worker = new Worker(WORKER, { workerData: slots, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const t: Thread = { worker, slots, freePieces: Array.from({ length: PIECE_SLOTS }, (_, i) => i), slotWaiters: [], returned: [], held: 0 };
    worker.unref();
    worker.on('message', (m: FromWorker) => this.received(t, m));
    worker.on('error', (err) => this.failAll(new CrissError('ERR', `the chunker thread failed: ${err.message}`)));
    worker.on('exit', () => {
      if (this.current === t) this.current = null;
      for (const r of t.slotWaiters.splice(0)) r();
      this.failAll(new CrissError('ERR', 'the chunker thread exited'));
    });
    this.current = t;
    return t;
  }

  /** A new upload; `onChunks` receives its chunks in file order. */
  open(onChunks: (chunks: Chunk[]) => void): ChunkerSession {
    const id = this.next++;
    this.sessions.set(id, { onChunks, thread: null, backlog: 0, waiting: [], finished: null, failure: null });
    return new ChunkerSession(this, id);
  }

  /** Copies `piece` into piece slots for the thread; resolves once the backlog allows more. */
  async push(id: number, piece: Uint8Array): Promise<void> {
    // An empty piece sends nothing, but only to an upload still open.
    this.session(id);
    for (let at = 0; at < piece.length; at += PIECE_SLOT) {
      const s = this.session(id);
      const t = this.threadOf(s);
      let slot = t.freePieces.pop();
      while (slot === undefined) {
        await new Promise<void>((r) => t.slotWaiters.push(r));
        this.threadOf(this.session(id));
        slot = t.freePieces.pop();
      }
      const part = piece.subarray(at, at + PIECE_SLOT);
      new Uint8Array(t.slots.pieces, slot * PIECE_SLOT, part.length).set(part);
      s.backlog += part.length;
      // To this thread: a slot number means nothing to a thread started since.
      t.worker.postMessage({ type: 'push', upload: id, slot, length: part.length } satisfies ToWorker);
      while (s.backlog > MAX_BACKLOG && s.failure === null) await new Promise<void>((r) => s.waiting.push(r));
      if (s.failure !== null) throw s.failure;
    }
  }

  /** Resolves once the last chunk has been delivered. */
  finish(id: number): Promise<void> {
    const s = this.session(id);
    const t = this.threadOf(s);
    s.finished = Promise.withResolvers<void>();
    t.worker.postMessage({ type: 'finish', upload: id } satisfies ToWorker);
    return s.finished.promise;
  }

  /**
   * The session's thread (the current one, for its first message). A thread started since
   * knows nothing of the bytes sent before: such an upload fails rather than go on there.
   */
  private threadOf(s: Session): Thread {
    s.thread ??= this.thread();
    if (s.thread !== this.current) throw new CrissError('ERR', 'the chunker thread exited');
    return s.thread;
  }

  /** Hands a chunk's slot back to the thread once nothing refers to its value any more. */
  recycle(value: Uint8Array): void {
    const t = this.current;
    if (t === null || value.buffer !== t.slots.chunks) return;
    if (t.returned.length === 0) queueMicrotask(() => this.flushReturned(t));
    t.returned.push(value.byteOffset / CHUNK_SLOT);
    t.held--;
  }

  /** Chunk slots the main thread holds (values being stored): 0 once every upload is done. */
  get slotsHeld(): number {
    return this.current?.held ?? 0;
  }

  private flushReturned(t: Thread): void {
    const slots = t.returned.splice(0);
    if (slots.length > 0 && this.current === t) t.worker.postMessage({ type: 'recycle', slots } satisfies ToWorker);
  }

  drop(id: number): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    this.sessions.delete(id);
    if (s.thread !== null && s.thread === this.current) s.thread.worker.postMessage({ type: 'drop', upload: id } satisfies ToWorker);
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

  private chunkOf(t: Thread, w: WireChunk): Chunk {
    if (w.slot >= 0) t.held++;
    const value = w.slot < 0 ? (w.value as Uint8Array) : new Uint8Array(t.slots.chunks, w.slot * CHUNK_SLOT, w.length);
    return { offset: w.offset, value, id: w.id };
  }

  private received(t: Thread, m: FromWorker): void {
    if (m.freed >= 0) {
      t.freePieces.push(m.freed);
      t.slotWaiters.shift()?.();
    }
    const s = this.sessions.get(m.upload);
    if (m.type === 'failed') {
      if (s !== undefined) this.fail(s, new CrissError('ERR', `chunking failed: ${m.message}`));
      return;
    }
    const chunks = m.chunks.map((w) => this.chunkOf(t, w));
    if (s === undefined) {
      // A dropped upload's chunks: nobody stores them, so their slots are free at once.
      for (const c of chunks) this.recycle(c.value);
      return;
    }
    try {
      s.onChunks(chunks);
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
