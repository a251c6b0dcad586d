import type { Socket } from 'node:net';
import type { Stream } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';

/**
 * Bytes a socket may hold unsent before the stream is paused. write() reports false past 16 KiB,
 * less than one stream message: pausing there would stop and restart the sender on every message.
 */
const SOCKET_BUFFER = 256 * 1024;

/**
 * Most socket bytes gathered into one stream write. The reads of one event-loop turn (libuv
 * reads up to 32 × 64 KiB while more is waiting) go out as one write, so a bulk transfer makes
 * Yamux frames of up to this instead of one frame, two Noise messages and one window update
 * back per 64 KiB read. Yamux's initial stream window: a larger batch would mostly wait in the
 * stream's buffer, and it bounds what one connection holds there.
 */
const MAX_BATCH = 256 * 1024;

/**
 * The size of Node's socket reads. A shorter read emptied the kernel's buffer (libuv reads on
 * only after a full one), so nothing more comes this turn and the batch goes out at once: a
 * request or a keystroke waits for no end of turn.
 */
const READ_SIZE = 64 * 1024;

/**
 * The stream's next 'drain' (or a rejection when it closes first). Not `stream.onDrain()`: in
 * @libp2p/utils 7.4 its promise is made once and never replaced, so after the first drain it
 * resolves at once and a sender relying on it buffers without limit.
 */
export function drained(stream: Stream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      stream.removeEventListener('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      stream.removeEventListener('drain', onDrain);
      reject(new Error('stream closed'));
    };
    stream.addEventListener('drain', onDrain, { once: true });
    stream.addEventListener('close', onClose, { once: true });
  });
}

export interface PipeCounters {
  /** Bytes from the stream to the socket. */
  received: number;
  /** Bytes from the socket to the stream. */
  sent: number;
}

export interface Pipe {
  /** Resolves once both the socket and the stream are closed, however that happened. */
  done: Promise<void>;
  /** Drops both ends at once (a reset, not a clean close). */
  cut(reason: string): void;
}

/**
 * Carries bytes both ways between a TCP socket (created with `allowHalfOpen`) and a libp2p
 * stream, with back-pressure each way: a full socket pauses the stream (yamux stops the sender
 * at its window) and a full stream pauses the socket. Each side's end of data becomes the
 * other's half-close, so a client that shuts down its write side still gets its response. A
 * stream that closes without its remote's end of data (a reset, a dead connection) destroys the
 * socket, so the TCP peer sees a broken connection instead of a truncated clean one.
 */
export function pipe(socket: Socket, stream: Stream, counters: PipeCounters, idleMs: number): Pipe {
  let remoteEof = stream.remoteWriteStatus === 'closed';
  let socketClosed = false;
  let streamClosed = stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset';
  let finish = (): void => {};
  const done = new Promise<void>((resolve) => {
    finish = () => {
      if (socketClosed && streamClosed) resolve();
    };
  });
  const cut = (reason: string): void => {
    socket.destroy();
    stream.abort(new Error(reason));
  };
  // Every byte either way passes the socket, so its timeout is the connection's idle timeout.
  socket.setTimeout(idleMs, () => cut('idle'));
  socket.setNoDelay(true);

  const endSocket = (): void => {
    if (remoteEof) socket.end();
    else socket.destroy();
  };
  // stream.resume() dispatches what it buffered, then re-enables Yamux window updates (libp2p
  // 3): a pause() from inside that dispatch would be undone at once and the read buffer would
  // overflow (a reset at 4 MiB). So a pause wanted during resume() happens after it returns.
  let resuming = false;
  let pauseAfterResume = false;
  const resumeStream = (): void => {
    if (stream.readStatus !== 'paused') return;
    resuming = true;
    try {
      stream.resume();
    } finally {
      resuming = false;
    }
    if (!pauseAfterResume) return;
    pauseAfterResume = false;
    try {
      stream.pause();
    } catch {
      // Closing already: nothing more will arrive.
    }
  };
  stream.addEventListener('message', (evt) => {
    const data = evt.data;
    counters.received += data.byteLength;
    // Written at once, not corked until the end of the turn: held data counts in writableLength
    // and would pause the stream, and its window updates, for every large frame.
    if (data instanceof Uint8Array) socket.write(data);
    else {
      // One writev for the message's parts (Yamux frames) instead of a write each.
      socket.cork();
      for (const part of data) socket.write(part);
      socket.uncork();
    }
    if (socket.writableLength < SOCKET_BUFFER || socket.destroyed) return;
    if (resuming) pauseAfterResume = true;
    else {
      try {
        stream.pause();
      } catch {
        return;
      }
    }
    socket.once('drain', resumeStream);
  });
  stream.addEventListener('remoteCloseWrite', () => {
    remoteEof = true;
  });
  stream.addEventListener('end', endSocket);
  stream.addEventListener('close', (evt) => {
    streamClosed = true;
    if (evt.error !== undefined || !remoteEof) socket.destroy();
    finish();
  });
  if (stream.readableEnded && stream.readBufferLength === 0) endSocket();

  let batch: Buffer[] = [];
  let batchBytes = 0;
  let flushing: NodeJS.Immediate | undefined;
  const flush = (): void => {
    clearImmediate(flushing);
    flushing = undefined;
    if (batchBytes === 0) return;
    const data = batch.length === 1 ? batch[0] : new Uint8ArrayList(...batch);
    batch = [];
    batchBytes = 0;
    let ok: boolean;
    try {
      ok = stream.send(data);
    } catch {
      socket.destroy();
      return;
    }
    if (ok) return;
    socket.pause();
    drained(stream).then(() => socket.resume(), () => socket.destroy());
  };
  socket.on('data', (chunk: Buffer) => {
    counters.sent += chunk.length;
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= MAX_BATCH || chunk.length < READ_SIZE) flush();
    else flushing ??= setImmediate(flush);
  });
  socket.on('end', () => {
    flush();
    if (stream.writeStatus === 'writable') stream.close().catch((err: unknown) => stream.abort(err as Error));
  });
  socket.on('error', () => undefined);
  socket.on('close', (hadError) => {
    socketClosed = true;
    clearImmediate(flushing);
    // A socket gone before both ends finished cleanly: the stream must not wait for it.
    if (hadError || stream.writeStatus === 'writable' || !socket.readableEnded) stream.abort(new Error('socket closed'));
    finish();
  });
  if (streamClosed && stream.remoteWriteStatus !== 'closed') socket.destroy();
  return { done, cut };
}
