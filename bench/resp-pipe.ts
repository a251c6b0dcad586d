import { connect, type Socket } from 'node:net';

/**
 * A minimal pipelined RESP2 client on one raw socket, for bulk file traffic: replies are matched
 * to commands in order, a bulk reply is copied once into a buffer of its own size, and the
 * caller bounds what is in flight. Raw rather than ioredis, so a figure measures the protocol.
 */

export type Reply = Buffer | string | number | null | Error;

const CRLF = Buffer.from('\r\n');

/** RESP2 replies of the shapes the file commands give (simple, error, integer, bulk), in order. */
export class RespPipe {
  private readonly socket: Socket;
  private readonly waiting: Array<(r: Reply) => void> = [];
  private rest = Buffer.alloc(0);
  private bulk: Buffer | undefined;
  private filled = 0;
  /** CRLF bytes still to skip after a bulk's payload (they can straddle two chunks). */
  private skip = 0;
  private failure: Error | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    const fail = (e: Error) => {
      this.failure = e;
      for (const w of this.waiting.splice(0)) w(e);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static open(port: number, host = '127.0.0.1'): Promise<RespPipe> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host);
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RespPipe(s)));
      s.once('error', reject);
    });
  }

  /** Sends one command; resolves with its reply (an error reply resolves to an Error). */
  send(args: Array<string | Buffer>): Promise<Reply> {
    if (this.failure !== undefined) return Promise.resolve(this.failure);
    const reply = new Promise<Reply>((resolve) => this.waiting.push(resolve));
    this.socket.cork();
    this.socket.write(`*${args.length}\r\n`);
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      this.socket.write(`$${b.length}\r\n`);
      this.socket.write(b);
      this.socket.write(CRLF);
    }
    this.socket.uncork();
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }

  private emit(r: Reply): void {
    this.waiting.shift()?.(r);
  }

  private push(chunk: Buffer): void {
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = Buffer.alloc(0);
    let pos = 0;
    while (pos < data.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - pos);
        pos += n;
        this.skip -= n;
        continue;
      }
      if (this.bulk !== undefined) {
        const n = Math.min(this.bulk.length - this.filled, data.length - pos);
        data.copy(this.bulk, this.filled, pos, pos + n);
        this.filled += n;
        pos += n;
        if (this.filled === this.bulk.length) {
          const b = this.bulk;
          this.bulk = undefined;
          this.skip = 2;
          this.emit(b);
        }
        continue;
      }
      const eol = data.indexOf(CRLF, pos);
      if (eol < 0) {
        this.rest = Buffer.from(data.subarray(pos));
        return;
      }
      const type = String.fromCharCode(data[pos]);
      const line = data.toString('latin1', pos + 1, eol);
      pos = eol + 2;
      if (type === '+') this.emit(line);
      else if (type === '-') this.emit(new Error(line));
      else if (type === ':') this.emit(Number(line));
      else if (type === '$') {
        const n = Number(line);
        if (n < 0) this.emit(null);
        else if (n === 0) {
          this.skip = 2;
          this.emit(Buffer.alloc(0));
        } else {
          this.bulk = Buffer.allocUnsafe(n);
          this.filled = 0;
        }
      } else {
        this.socket.destroy(new Error(`unexpected RESP reply type '${type}' (this client reads RESP2 scalars only)`));
        return;
      }
    }
  }
}

/** The reply, or a throw with the command's name when it is an error reply. */
export function check(r: Reply, what: string): Exclude<Reply, Error> {
  if (r instanceof Error) throw new Error(`${what}: ${r.message}`);
  return r;
}
