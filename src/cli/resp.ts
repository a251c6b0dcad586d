/** A RESP2 reply: bulk and simple strings as bytes, integers, nil, arrays. */
export type Reply = Buffer | number | null | Reply[];

/** A `-ERR …` reply: the line without the '-'. */
export class ReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

const CRLF = 0x0a;

interface Frame {
  items: Array<Reply | ReplyError>;
  length: number;
}

/**
 * Incremental RESP2 reply parser. A bulk string gets one buffer of exactly its size, filled as
 * the socket's chunks arrive: a 4 MiB reply costs 4 MiB, whatever the chunking, and nothing is
 * kept after the caller drops it (general-purpose parsers pool and retain far more). `alloc`
 * may hand out a buffer the caller gave back (Connection.recycle).
 */
export class RespReader {
  readonly #onReply: (reply: Reply | ReplyError) => void;
  readonly #alloc: (length: number) => Buffer;
  /** An incomplete header line carried over to the next chunk. */
  #partial: Buffer | undefined;
  #bulk: Buffer | undefined;
  #filled = 0;
  /** The CRLF after a bulk string's bytes, still to be skipped (it may be split across chunks). */
  #skip = 0;
  readonly #stack: Frame[] = [];

  constructor(onReply: (reply: Reply | ReplyError) => void, alloc: (length: number) => Buffer = Buffer.allocUnsafe) {
    this.#onReply = onReply;
    this.#alloc = alloc;
  }

  feed(chunk: Buffer): void {
    let data = chunk;
    if (this.#partial) {
      data = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    let off = 0;
    while (off < data.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length - off);
        this.#skip -= n;
        off += n;
        continue;
      }
      if (this.#bulk) {
        const n = Math.min(this.#bulk.length - this.#filled, data.length - off);
        data.copy(this.#bulk, this.#filled, off, off + n);
        this.#filled += n;
        off += n;
        if (this.#filled === this.#bulk.length) {
          const done = this.#bulk;
          this.#bulk = undefined;
          this.#skip = 2;
          this.#emit(done);
        }
        continue;
      }
      const eol = data.indexOf(CRLF, off);
      if (eol < 0) {
        this.#partial = Buffer.from(data.subarray(off));
        return;
      }
      this.#line(data.subarray(off, eol - 1));
      off = eol + 1;
    }
  }

  #line(line: Buffer): void {
    const type = line[0];
    const rest = line.subarray(1);
    switch (type) {
      case 0x2b: // +
        return this.#emit(Buffer.from(rest));
      case 0x2d: // -
        return this.#emit(new ReplyError(rest.toString()));
      case 0x3a: // :
        return this.#emit(Number(rest.toString()));
      case 0x24: {
        // $
        const length = Number(rest.toString());
        if (length < 0) return this.#emit(null);
        this.#bulk = this.#alloc(length);
        this.#filled = 0;
        if (length === 0) {
          this.#bulk = undefined;
          this.#skip = 2;
          this.#emit(Buffer.alloc(0));
        }
        return;
      }
      case 0x2a: {
        // *
        const length = Number(rest.toString());
        if (length < 0) return this.#emit(null);
        if (length === 0) return this.#emit([]);
        this.#stack.push({ items: [], length });
        return;
      }
      default:
        throw new ReplyError(`PROTOCOL unexpected reply type ${JSON.stringify(String.fromCharCode(type ?? 0))}`);
    }
  }

  #emit(value: Reply | ReplyError): void {
    let v = value;
    for (;;) {
      const top = this.#stack.at(-1);
      if (!top) return this.#onReply(v);
      top.items.push(v);
      if (top.items.length < top.length) return;
      this.#stack.pop();
      // An error nested in an array is data to the caller, not a failed command.
      v = top.items.map((x) => (x instanceof ReplyError ? Buffer.from(x.message) : x));
    }
  }
}

/** One command as RESP, as buffers to write in order: big arguments go out as they are, uncopied. */
export function encodeCommand(command: string, args: ReadonlyArray<string | Buffer>): Buffer[] {
  const out: Buffer[] = [];
  let head = `*${args.length + 1}\r\n$${Buffer.byteLength(command)}\r\n${command}\r\n`;
  for (const arg of args) {
    if (typeof arg === 'string') {
      head += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    } else {
      out.push(Buffer.from(`${head}$${arg.length}\r\n`), arg);
      head = '\r\n';
    }
  }
  out.push(Buffer.from(head));
  return out;
}
