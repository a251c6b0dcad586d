import type { Stream } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';
import { CrissError } from '../errors.ts';

/** A varint of this many bytes holds any length a frame may declare (at most 2^35 − 1). */
const MAX_PREFIX = 5;

/**
 * Length-prefixed frames (an unsigned varint, then that many bytes, as `lpStream` frames them)
 * on a libp2p stream, parsed from its chunks as they arrive. `lpStream` reads each length one
 * byte at a time, an async read and a scan of its buffer list per byte: a clone of a tree of
 * 2.7 KB nodes spent a tenth of its time there (docs/benchmarks.md).
 */
export class FrameStream {
  private readonly stream: Stream;
  private readonly maxFrame: number;
  private readonly buffered = new Uint8ArrayList();
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private ended = false;

  constructor(stream: Stream, maxFrame: number) {
    this.stream = stream;
    this.maxFrame = maxFrame;
    stream.addEventListener('message', (evt) => {
      if (this.failure !== null) return;
      this.buffered.append(evt.data);
      // A peer may send ahead, but never more than one frame and the next one's length.
      if (this.buffered.byteLength > maxFrame + 2 * MAX_PREFIX + 1024) {
        const err = new CrissError('ERR', `peer sent more than a ${maxFrame}-byte frame ahead`);
        this.fail(err);
        stream.abort(err);
      }
      this.notify();
    });
    stream.addEventListener('close', (evt) => {
      this.ended = true;
      if (evt.error !== undefined) this.fail(evt.error);
      this.notify();
    });
    stream.addEventListener('remoteCloseWrite', () => {
      this.ended = true;
      this.notify();
    });
  }

  /** The next frame; rejects when the stream ends before it, fails, or `signal` aborts. One read at a time. */
  async read(signal: AbortSignal): Promise<Uint8ArrayList> {
    for (;;) {
      const frame = this.take();
      if (frame !== undefined) return frame;
      if (this.failure !== null) throw this.failure;
      if (this.ended) throw new CrissError('ERR', this.buffered.byteLength === 0 ? 'the peer closed the stream' : 'the peer closed the stream in the middle of a frame');
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }

  /** Sends one frame, waiting for the stream to drain when its send buffer is full. */
  write(data: Uint8Array, signal: AbortSignal): Promise<void> {
    return sendAll(this.stream, [lengthPrefix(data.byteLength), data], signal);
  }

  /** A whole frame from the front of the buffer, or undefined when more bytes are needed. */
  private take(): Uint8ArrayList | undefined {
    const head = this.buffered.byteLength;
    let length = 0;
    let i = 0;
    for (;; i++) {
      if (i === head) return undefined;
      if (i === MAX_PREFIX) return this.fail(new CrissError('ERR', 'peer sent a frame length longer than 5 bytes'));
      const b = this.buffered.get(i);
      length += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) break;
    }
    if (length > this.maxFrame) return this.fail(new CrissError('ERR', `peer sent a ${length}-byte frame, over the ${this.maxFrame}-byte limit`));
    const end = i + 1 + length;
    if (head < end) return undefined;
    const frame = this.buffered.sublist(i + 1, end);
    this.buffered.consume(end);
    return frame;
  }

  private fail(e: Error): undefined {
    this.failure ??= e;
    return undefined;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** Sends `pieces` as one write, waiting for the stream to drain when its send buffer is full. */
export async function sendAll(stream: Stream, pieces: Uint8Array[], signal: AbortSignal): Promise<void> {
  if (stream.send(new Uint8ArrayList(...pieces))) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new CrissError('CLOSED', 'the stream closed before everything was sent'));
    const onAbort = (): void => done(signal.reason);
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}

/** The unsigned varint length prefix of a frame, as lpStream writes it. */
export function lengthPrefix(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return Buffer.from(out);
}
