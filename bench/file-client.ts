import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { check, type Reply, RespPipe } from './resp-pipe.ts';

/**
 * The bench's stand-in for `crisscross upload` and `crisscross cat`, with the same command
 * lines, so bench/files.ts can run either (until the CLI's file commands land):
 *   node bench/file-client.ts upload FILE -p PORT [--ttl MS]   prints the file id
 *   node bench/file-client.ts cat ID -p PORT                   writes the bytes to stdout
 * Pipelined on one raw socket (bench/resp-pipe.ts): the bytes in flight are bounded, and neither
 * side ever holds the whole file.
 */

const PIECE = 1 << 20;
/** Upload: FILEWRITE pieces sent but not yet acknowledged, as files-api.md suggests (8–16 MiB). */
const UPLOAD_IN_FLIGHT = 16 * PIECE;
/** Cat: FILEREAD windows asked for but not yet written out. */
const READ_WINDOW = 4 * PIECE;
const READS_IN_FLIGHT = 4;

async function upload(pipe: RespPipe, file: string, ttl: string): Promise<string> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    check(await pipe.send(['FILEBEGIN']), 'FILEBEGIN');
    const pending: Array<Promise<Reply>> = [];
    let inFlight = 0;
    let acked = 0;
    const settleOldest = async () => {
      const r = check(await (pending.shift() as Promise<Reply>), 'FILEWRITE');
      acked = r as number;
      inFlight -= PIECE;
    };
    for (let offset = 0; offset < size; offset += PIECE) {
      const piece = Buffer.allocUnsafe(Math.min(PIECE, size - offset));
      readSync(fd, piece, 0, piece.length, offset);
      pending.push(pipe.send(['FILEWRITE', piece]));
      inFlight += PIECE;
      while (inFlight > UPLOAD_IN_FLIGHT) await settleOldest();
    }
    while (pending.length > 0) await settleOldest();
    if (acked !== size && size > 0) throw new Error(`the daemon acknowledged ${acked} bytes of ${size}`);
    const id = check(await pipe.send(['FILEEND', ttl]), 'FILEEND');
    return Buffer.isBuffer(id) ? id.toString() : String(id);
  } finally {
    closeSync(fd);
  }
}

async function cat(pipe: RespPipe, id: string): Promise<void> {
  const size = check(await pipe.send(['FILESIZE', id]), 'FILESIZE') as number;
  const pending: Array<{ reply: Promise<Reply>; length: number }> = [];
  let next = 0;
  const ask = () => {
    const length = Math.min(READ_WINDOW, size - next);
    pending.push({ reply: pipe.send(['FILEREAD', id, String(next), String(length)]), length });
    next += length;
  };
  while (next < size && pending.length < READS_IN_FLIGHT) ask();
  while (pending.length > 0) {
    const { reply, length } = pending.shift() as { reply: Promise<Reply>; length: number };
    const bytes = check(await reply, 'FILEREAD') as Buffer;
    if (bytes.length !== length) throw new Error(`FILEREAD returned ${bytes.length} bytes, expected ${length}`);
    if (next < size) ask();
    if (!process.stdout.write(bytes)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { port: { type: 'string', short: 'p' }, host: { type: 'string', default: '127.0.0.1' }, ttl: { type: 'string', default: '-1' } },
  });
  const [command, target] = positionals;
  if ((command !== 'upload' && command !== 'cat') || target === undefined || values.port === undefined) {
    throw new Error('usage: node bench/file-client.ts upload FILE -p PORT [--ttl MS] | cat ID -p PORT');
  }
  const pipe = await RespPipe.open(Number(values.port), values.host);
  try {
    if (command === 'upload') process.stdout.write(`${await upload(pipe, target, values.ttl)}\n`);
    else await cat(pipe, target);
  } finally {
    pipe.close();
  }
}

await main().catch((e: unknown) => {
  process.stderr.write(`file-client: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
