import type { Connection, Reply } from './client.ts';

/**
 * Commands sent back to back without waiting for their replies, with at most `maxBytes` of
 * arguments unacknowledged: the socket stays busy in both directions, while memory (ours and the
 * kernel's buffers) stays bounded however much is sent. Replies arrive in order, so waiting for
 * the oldest one is enough to make room.
 */
export class Pipeline {
  readonly #conn: Connection;
  readonly #maxBytes: number;
  readonly #pending: Array<Promise<void>> = [];
  #inFlight = 0;
  #failed = false;
  #failure: unknown;

  constructor(conn: Connection, maxBytes: number) {
    this.#conn = conn;
    this.#maxBytes = maxBytes;
  }

  /**
   * Send a command; `onReply` sees its reply, in send order. Resolves when there is room for the
   * next command (not when this one is answered); rejects with the first failure of any command.
   */
  async send(onReply: ((reply: Reply) => void) | undefined, command: string, ...args: Array<string | Buffer>): Promise<void> {
    this.#check();
    const weight = args.reduce((n, a) => n + a.length, command.length);
    this.#inFlight += weight;
    this.#pending.push(
      this.#conn.call(command, ...args).then(
        (reply) => {
          this.#inFlight -= weight;
          if (this.#failed) return;
          try {
            onReply?.(reply);
          } catch (e) {
            this.#fail(e);
          }
        },
        (e: unknown) => {
          this.#inFlight -= weight;
          this.#fail(e);
        },
      ),
    );
    while (this.#inFlight > this.#maxBytes) await this.#pending.shift();
    this.#check();
  }

  /** Wait for every reply; rejects with the first failure. */
  async drain(): Promise<void> {
    while (this.#pending.length > 0) await this.#pending.shift();
    this.#check();
  }

  #fail(e: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failure = e;
  }

  #check(): void {
    if (this.#failed) throw this.#failure;
  }
}

export interface Piece {
  file: string;
  offset: number;
  length: number;
}

/** Bounds the read-ahead in commands too, for a directory of many tiny files. */
const MAX_PIECES_AHEAD = 1024;

/**
 * The replies to FILEREAD for each piece, in order, with at most `maxBytes` requested but not yet
 * handed to the consumer: a file of any size streams through a few windows of memory, and the
 * consumer's pace (a full stdout pipe, a slow disk) throttles the reads.
 */
export async function* readPieces(conn: Connection, pieces: Iterable<Piece>, maxBytes: number): AsyncGenerator<Reply> {
  const queue: Array<{ reply: Promise<Reply>; length: number }> = [];
  let queued = 0;
  for (const piece of pieces) {
    const reply = conn.call('FILEREAD', piece.file, String(piece.offset), String(piece.length));
    // A consumer that stops early leaves replies nobody awaits; their failures are moot.
    reply.catch(() => {});
    queue.push({ reply, length: piece.length });
    queued += piece.length;
    while (queued >= maxBytes || queue.length >= MAX_PIECES_AHEAD) {
      const next = queue.shift()!;
      queued -= next.length;
      yield await next.reply;
    }
  }
  for (const next of queue.splice(0)) yield await next.reply;
}

/** Cut [0, size) into pieces of at most `window` bytes, lazily, for readPieces. */
export function* windows(file: string, size: number, window: number): Generator<Piece> {
  for (let offset = 0; offset < size; offset += window) yield { file, offset, length: Math.min(window, size - offset) };
}
