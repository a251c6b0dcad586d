import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Connection, Reply } from './client.ts';
import { bytes, integer } from './common.ts';
import { CliFailure, EXIT } from './exit.ts';
import { readPieces, windows, type Pipeline, type Piece } from './pipeline.ts';

/** FILEWRITE piece: big enough that per-command costs vanish, small against the window. */
export const PIECE = 1024 * 1024;
/** Unacknowledged upload bytes: enough to keep a fast link full, little memory on either side. */
export const UPLOAD_IN_FLIGHT = 8 * PIECE;
/**
 * FILEREAD window, and how many bytes of windows are requested ahead of the consumer. With
 * window buffers reused (Connection.recycle) and the daemon's reads pooled, a 1 GiB cat ran at
 * 0.45-0.50 GB/s with 1 MiB windows and 0.51-0.52 with 2 MiB (fewer commands, fewer chunks read
 * for two windows); the daemon's pool (16 MiB) holds the windows in flight.
 */
export const READ_WINDOW = 2 * PIECE;
export const READ_AHEAD = 4 * READ_WINDOW;

/**
 * Queue one whole upload on the pipeline: FILEBEGIN, the bytes of `path` (stdin for "-") as
 * FILEWRITE pieces, FILEEND ttl. `onAcked` hears of each piece the daemon acknowledged, by its
 * size; `onId` gets the file id once the daemon has it. Resolves when the last command is sent;
 * the pipeline's drain() awaits the rest.
 */
export async function sendFile(p: Pipeline, path: string, ttl: number, onAcked: (n: number) => void, onId: (id: string) => void): Promise<void> {
  await p.send(undefined, 'FILEBEGIN');
  let sent = 0;
  try {
    for await (const { bytes: chunk, whole } of path === '-' ? streamPieces(process.stdin) : filePieces(path)) {
      sent += chunk.length;
      const expected = sent;
      // The daemon's running total catches a lost or doubled piece at once, not as a wrong id.
      await p.send(
        (reply) => {
          const received = integer(reply, 'FILEWRITE');
          if (received !== expected) throw new CliFailure(EXIT.server, `FILEWRITE: the daemon counted ${received} bytes where ${expected} were sent`);
          // Acknowledged, so the socket has long taken it: the buffer may hold a later piece.
          if (whole !== null && spare.length < MAX_SPARE) spare.push(whole);
          onAcked(chunk.length);
        },
        'FILEWRITE',
        chunk,
      );
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof CliFailure || typeof code !== 'string') throw e;
    // Changed or gone since it was listed: the user's to fix, like a missing file.
    throw new CliFailure(EXIT.usage, `cannot read ${path}: ${code}`);
  }
  await p.send((reply) => onId(bytes(reply, 'FILEEND').toString()), 'FILEEND', String(ttl));
}

/** A piece to send, and the reusable buffer it lies in (null when it is not ours to reuse). */
interface SendPiece {
  bytes: Buffer;
  whole: Buffer | null;
}

/**
 * Buffers of pieces the daemon acknowledged, for the next reads: a fresh 1 MiB buffer per read
 * cost page faults for every 4 KiB of it, ~0.1 s of system time per GiB uploaded.
 */
const spare: Buffer[] = [];
const MAX_SPARE = UPLOAD_IN_FLIGHT / PIECE + 2;

async function* filePieces(path: string): AsyncGenerator<SendPiece> {
  const fh = await open(path, 'r');
  try {
    for (;;) {
      const whole = spare.pop() ?? Buffer.allocUnsafeSlow(PIECE);
      const { bytesRead } = await fh.read(whole, 0, PIECE, null);
      if (bytesRead === 0) {
        spare.push(whole);
        return;
      }
      yield { bytes: whole.subarray(0, bytesRead), whole };
    }
  } finally {
    await fh.close();
  }
}

async function* streamPieces(input: Readable): AsyncGenerator<SendPiece> {
  for await (const bytes of input as AsyncIterable<Buffer>) yield { bytes, whole: null };
}

/** The next reply from readPieces, checked to be the whole of `piece`. */
async function nextPiece(replies: AsyncIterator<Reply>, piece: Piece): Promise<Buffer> {
  const next = await replies.next();
  const chunk = bytes(next.done ? null : next.value, 'FILEREAD');
  if (chunk.length !== piece.length) {
    throw new CliFailure(EXIT.server, `FILEREAD ${piece.file} at ${piece.offset}: ${chunk.length} bytes where ${piece.length} were expected`);
  }
  return chunk;
}

/** Write what `replies` yields for `pieces` into `fh`; each window's buffer goes back to `conn` once written. */
export async function writePieces(conn: Connection, fh: FileHandle, pieces: Iterable<Piece>, replies: AsyncIterator<Reply>, onWritten: (n: number) => void): Promise<void> {
  for (const piece of pieces) {
    const chunk = await nextPiece(replies, piece);
    await fh.write(chunk);
    conn.recycle(chunk);
    onWritten(chunk.length);
  }
}

export async function fileSize(conn: Connection, file: string): Promise<number> {
  return integer(await conn.call('FILESIZE', file), 'FILESIZE');
}

/**
 * A whole file as windows of bytes, in order, read ahead by READ_AHEAD at most. A window is
 * valid until the next one is asked for: its buffer then holds a later window.
 */
export async function* fileBytes(conn: Connection, file: string, size: number): AsyncGenerator<Buffer> {
  const replies = readPieces(conn, windows(file, size, READ_WINDOW), READ_AHEAD);
  for (const piece of windows(file, size, READ_WINDOW)) {
    const chunk = await nextPiece(replies, piece);
    yield chunk;
    conn.recycle(chunk);
  }
}
