/**
 * Incremental RESP request decoder. Clients send either RESP2 multibulk frames
 * (`*N\r\n$len\r\n…`) or inline commands (a line split with Redis's quoting rules). The decoder
 * follows Redis 7.0's networking.c byte for byte where clients can observe it (error texts,
 * what is ignored, what closes the connection), but decides every limit on the frame itself so
 * the outcome never depends on how the bytes were split into chunks.
 *
 * It is pull-based: `push` only stores bytes, `next` parses one command. The connection executes
 * each command before pulling the next, so the unauthenticated limits always reflect the AUTH
 * state left by the commands before it, exactly as in Redis.
 */

import { BULK_BUFFER_BYTES, BULK_MIN_BYTES, type BulkBuffer, settleBulkBuffer, takeBulkBuffer } from './bulk-buffers.ts';

export interface DecoderLimits {
  /** Most arguments (name included) one command may declare. */
  maxArgs: number;
  /** Largest bulk string a client may send (Redis `proto-max-bulk-len`). */
  maxBulkLength: number;
  /** Longest inline command line, and longest `*`/`$` header line. */
  maxInlineLength: number;
}

export const DEFAULT_DECODER_LIMITS: Readonly<DecoderLimits> = {
  maxArgs: 1_048_576,
  maxBulkLength: 512 * 1024 * 1024,
  maxInlineLength: 64 * 1024,
};

/** Redis's limits for a client that must authenticate and has not yet. */
export const UNAUTHENTICATED_MAX_ARGS = 10;
export const UNAUTHENTICATED_MAX_BULK = 16 * 1024;

export type ProtocolErrorKind =
  | 'invalid multibulk length'
  | 'invalid bulk length'
  | 'expected $'
  | 'unbalanced quotes'
  | 'too big inline request'
  | 'too big mbulk count string'
  | 'too big bulk count string'
  | 'unauthenticated multibulk length'
  | 'unauthenticated bulk length';

/**
 * A malformed request. `message` is the exact text Redis sends after `-ERR ` (it may hold one
 * raw byte as a latin1 character, in `expected '$', got 'x'`), and the connection must close.
 */
export class RespProtocolError extends Error {
  readonly kind: ProtocolErrorKind;

  constructor(kind: ProtocolErrorKind, detail: string = kind) {
    super(`Protocol error: ${detail}`);
    this.kind = kind;
    this.name = 'RespProtocolError';
  }
}

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);
/** Past this size a buffer that is mostly consumed is not kept just for its tail. */
const RETAIN_LIMIT = 1024 * 1024;
/** Bytes of a bulk received before its buffer may be sized for more than twice that. */
const EAGER_AFTER = 64 * 1024;
/** The most a bulk's buffer grows to in one step once it qualifies. */
const EAGER_BYTES = 2 * 1024 * 1024;

/** Lengths with more digits cannot fit in a signed 64-bit integer (Redis's string2ll). */
const INT64_DIGITS = 19;
const INT32_MAX = 2_147_483_647;

export class RespDecoder {
  /** Set by the connection while a password is required and the client has not authenticated. */
  unauthenticated = false;

  private readonly limits: DecoderLimits;
  private buf: Buffer = EMPTY;
  /** The shared buffer `buf` is, when it is one (bulk-buffers.ts). */
  private bulk: BulkBuffer | undefined;
  /** Shared buffers the arguments parsed so far of the current command lie in, each counted in its `refs`. */
  private touched: BulkBuffer[] = [];
  /** Commands returned with arguments in shared buffers, until `recycle`. */
  private readonly holding = new WeakMap<Buffer[], BulkBuffer[]>();
  private start = 0;
  private end = 0;
  /** True when `buf` is our own accumulation buffer, so bytes past `end` may be overwritten. */
  private owned = false;
  /** Bytes from `start` known to hold no line terminator, so a resumed scan skips them. */
  private scanned = 0;
  /** Bytes from `start` the current bulk body needs, to size the next buffer growth. */
  private want = 0;
  private args: Buffer[] = [];
  /** Arguments still expected by the multibulk frame being parsed; 0 between commands. */
  private argsLeft = 0;
  /** Length of the bulk body being waited for; -1 while its `$` header is expected. */
  private bulkLen = -1;
  private failure: RespProtocolError | undefined;

  constructor(limits: Partial<DecoderLimits> = {}) {
    this.limits = { ...DEFAULT_DECODER_LIMITS, ...limits };
    this.limits.maxArgs = Math.min(this.limits.maxArgs, INT32_MAX);
  }

  /** Bytes received and not yet consumed by a complete argument. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Stores a chunk; the decoder keeps a reference to it (arguments are views into it). */
  push(chunk: Buffer): void {
    if (this.failure !== undefined || chunk.length === 0) return;
    const pending = this.end - this.start;
    if (pending === 0) {
      this.use(chunk, undefined);
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (this.owned && this.buf.length - this.end >= chunk.length) {
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
      return;
    }
    // A frame spans chunks. Grow geometrically (never past what a declared bulk needs) so a
    // frame arriving byte by byte costs linear time, and never preallocate a declared length
    // on trust: only once a client has sent EAGER_AFTER bytes of it does the buffer jump to
    // up to EAGER_BYTES at once, so a 1 MiB piece is one allocation, not five copies.
    const need = pending + chunk.length;
    let capacity = need;
    if (this.want > need) capacity = Math.min(this.want, need >= EAGER_AFTER ? Math.max(need * 2, EAGER_BYTES) : need * 2);
    else if (this.owned) capacity = need * 2;
    const bulk = capacity >= BULK_MIN_BYTES && need <= BULK_BUFFER_BYTES ? takeBulkBuffer() : undefined;
    const next = bulk?.bytes ?? Buffer.allocUnsafe(capacity);
    // Never compact in place: arguments already returned may be views into the old buffer.
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, pending);
    this.use(next, bulk);
    this.start = 0;
    this.end = need;
    this.owned = true;
  }

  /**
   * The next complete command (name first), or undefined if more bytes are needed.
   * Arguments are views into received chunks, never overwritten; copy one to keep a small
   * slice alive without its chunk. Throws RespProtocolError, then again on every call.
   */
  next(): Buffer[] | undefined {
    if (this.failure !== undefined) throw this.failure;
    try {
      return this.parse();
    } catch (e) {
      if (e instanceof RespProtocolError) {
        this.failure = e;
        this.release();
      }
      throw e;
    }
  }

  private parse(): Buffer[] | undefined {
    while (this.argsLeft === 0) {
      if (this.start === this.end) {
        this.release();
        return undefined;
      }
      if (this.buf[this.start] !== 42 /* '*' */) {
        const inline = this.parseInline();
        if (inline === undefined) return undefined;
        if (inline.length > 0) {
          if (this.bulk !== undefined) this.touch(this.bulk);
          return this.done(inline);
        }
        continue;
      }
      const cr = this.findLineEnd(CR, 'too big mbulk count string');
      if (cr < 0) return undefined;
      const n = parseLength(this.buf, this.start + 1, cr);
      if (Number.isNaN(n) || n > this.limits.maxArgs) throw new RespProtocolError('invalid multibulk length');
      if (n > UNAUTHENTICATED_MAX_ARGS && this.unauthenticated) {
        throw new RespProtocolError('unauthenticated multibulk length');
      }
      this.consume(cr + 2);
      if (n > 0) this.argsLeft = n;
    }

    const buf = this.buf;
    while (this.argsLeft > 0) {
      if (this.bulkLen < 0) {
        const cr = this.findLineEnd(CR, 'too big bulk count string');
        if (cr < 0) return undefined;
        const first = buf[this.start];
        if (first !== 36 /* '$' */) {
          // Redis prints the byte itself, with CR and LF turned into spaces.
          const shown = first === CR || first === LF ? ' ' : String.fromCharCode(first);
          throw new RespProtocolError('expected $', `expected '$', got '${shown}'`);
        }
        const len = parseLength(buf, this.start + 1, cr);
        if (Number.isNaN(len) || len < 0 || len > this.limits.maxBulkLength) {
          throw new RespProtocolError('invalid bulk length');
        }
        if (len > UNAUTHENTICATED_MAX_BULK && this.unauthenticated) {
          throw new RespProtocolError('unauthenticated bulk length');
        }
        this.consume(cr + 2);
        this.bulkLen = len;
      }
      // Like Redis, the two bytes after the body are skipped without being checked.
      const stop = this.start + this.bulkLen;
      if (stop + 2 > this.end) {
        this.want = this.bulkLen + 2;
        return undefined;
      }
      this.args.push(this.buf.subarray(this.start, stop));
      if (this.bulk !== undefined && this.touched.at(-1) !== this.bulk) this.touch(this.bulk);
      this.consume(stop + 2);
      this.bulkLen = -1;
      this.want = 0;
      this.argsLeft--;
    }
    const command = this.args;
    this.args = [];
    return this.done(command);
  }

  /**
   * Position of the first `terminator` within the line limit. Returns -1 when more bytes are
   * needed: for CR, also when the CR is the last byte, since Redis waits for the LF after it.
   */
  private findLineEnd(terminator: number, tooBig: ProtocolErrorKind): number {
    const buf = this.buf;
    const limit = Math.min(this.end, this.start + this.limits.maxInlineLength + 1);
    let i = this.start + this.scanned;
    while (i < limit && buf[i] !== terminator) i++;
    if (i === limit) {
      if (this.end - this.start > this.limits.maxInlineLength) throw new RespProtocolError(tooBig);
      this.scanned = i - this.start;
      return -1;
    }
    if (terminator === CR && i + 1 >= this.end) {
      this.scanned = i - this.start;
      return -1;
    }
    return i;
  }

  /** One inline command: undefined when the line is incomplete, [] for a blank line. */
  private parseInline(): Buffer[] | undefined {
    const lf = this.findLineEnd(LF, 'too big inline request');
    if (lf < 0) return undefined;
    const lineEnd = lf > this.start && this.buf[lf - 1] === CR ? lf - 1 : lf;
    const args = splitArgs(this.buf, this.start, lineEnd);
    if (args === undefined) throw new RespProtocolError('unbalanced quotes', 'unbalanced quotes in request');
    this.consume(lf + 1);
    return args;
  }

  private consume(to: number): void {
    this.start = to;
    this.scanned = 0;
  }

  private done(command: Buffer[]): Buffer[] {
    if (this.touched.length > 0) {
      this.holding.set(command, this.touched);
      this.touched = [];
    }
    if (this.start === this.end) this.release();
    // A shared buffer is not copied out of: it is reused once left, so it costs no more kept.
    else if (this.bulk === undefined && this.buf.length > RETAIN_LIMIT && this.end - this.start < this.buf.length >>> 2) {
      this.use(Buffer.from(this.buf.subarray(this.start, this.end)), undefined);
      this.start = 0;
      this.end = this.buf.length;
      this.owned = true;
    }
    return command;
  }

  /**
   * Whether `command` (as `next` returned it) has arguments in a shared buffer, which
   * `recycle` can hand back.
   */
  holds(command: Buffer[]): boolean {
    return this.holding.has(command);
  }

  /**
   * Declares `command`'s arguments dead: nothing refers to them any more, so their memory may
   * take new input. Calling it for a command whose arguments are still referenced corrupts them.
   */
  recycle(command: Buffer[]): void {
    const buffers = this.holding.get(command);
    if (buffers === undefined) return;
    this.holding.delete(command);
    for (const b of buffers) {
      b.refs--;
      settleBulkBuffer(b);
    }
  }

  /** An argument of the command being parsed lies in `b`: it must not be reused before that command is recycled. */
  private touch(b: BulkBuffer): void {
    b.refs++;
    this.touched.push(b);
  }

  /** Makes `buf` the input buffer, handing the shared one it replaces back if it can go. */
  private use(buf: Buffer, bulk: BulkBuffer | undefined): void {
    const left = this.bulk;
    this.buf = buf;
    this.bulk = bulk;
    if (left !== undefined && left !== bulk) {
      left.filling = false;
      settleBulkBuffer(left);
    }
  }

  private release(): void {
    this.use(EMPTY, undefined);
    this.start = 0;
    this.end = 0;
    this.owned = false;
    this.scanned = 0;
  }
}

/**
 * Redis's string2ll over `buf[from, to)`: an optional `-`, no leading zeros, no `+`, no
 * spaces, within signed 64 bits. NaN when invalid. Values beyond 2^53 lose precision, which is
 * harmless: every caller rejects them against a far smaller limit.
 */
function parseLength(buf: Buffer, from: number, to: number): number {
  if (from >= to) return NaN;
  let i = from;
  const negative = buf[i] === 45; /* '-' */
  if (negative) i++;
  if (i === to) return NaN;
  const first = buf[i];
  if (first === 48 /* '0' */) return to - from === 1 ? 0 : NaN;
  if (first < 49 || first > 57) return NaN;
  const digits = to - i;
  if (digits > INT64_DIGITS) return NaN;
  let v = 0;
  for (; i < to; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) return NaN;
    v = v * 10 + (c - 48);
  }
  if (digits === INT64_DIGITS) {
    const text = buf.toString('latin1', to - digits, to);
    if (text > (negative ? '9223372036854775808' : '9223372036854775807')) return NaN;
  }
  return negative ? -v : v;
}

/** Redis's isspace(): the blanks skipped between inline arguments and accepted after a quote. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

const ESCAPES: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 97: 7 }; // n r t b a

/**
 * Redis's sdssplitargs over `buf[from, to)`. Unquoted words are returned as views; words with
 * quotes are rebuilt. Undefined on unbalanced quotes or a closing quote followed by a non-space.
 * Unlike the C original a NUL byte is an ordinary byte, not the end of the line.
 */
function splitArgs(buf: Buffer, from: number, to: number): Buffer[] | undefined {
  const args: Buffer[] = [];
  let p = from;
  let scratch: Buffer | undefined;
  for (;;) {
    while (p < to && isSpace(buf[p])) p++;
    if (p === to) return args;
    const wordStart = p;
    let plain = true;
    let n = 0;
    for (;;) {
      if (p === to) break;
      const c = buf[p];
      if (c === 32 || c === LF || c === CR || c === 9) break;
      if (c !== 34 /* '"' */ && c !== 39 /* "'" */) {
        if (!plain) scratch![n++] = c;
        p++;
        continue;
      }
      if (plain) {
        scratch ??= Buffer.allocUnsafe(to - from);
        n = buf.copy(scratch, 0, wordStart, p);
        plain = false;
      }
      const end = c === 34 ? readDoubleQuoted(buf, p + 1, to, scratch!, n) : readSingleQuoted(buf, p + 1, to, scratch!, n);
      if (end === undefined) return undefined;
      [p, n] = end;
      // The closing quote must end the word.
      if (p < to && !isSpace(buf[p])) return undefined;
      break;
    }
    args.push(plain ? buf.subarray(wordStart, p) : Buffer.from(scratch!.subarray(0, n)));
  }
}

/** Reads after an opening `"`; returns [position after the closing quote, bytes written]. */
function readDoubleQuoted(buf: Buffer, p: number, to: number, out: Buffer, n: number): [number, number] | undefined {
  while (p < to) {
    const c = buf[p];
    if (c === 34) return [p + 1, n];
    if (c === 92 /* '\\' */ && p + 1 < to) {
      const e = buf[p + 1];
      if (e === 120 /* 'x' */ && p + 3 < to && isHex(buf[p + 2]) && isHex(buf[p + 3])) {
        out[n++] = hexValue(buf[p + 2]) * 16 + hexValue(buf[p + 3]);
        p += 4;
      } else {
        out[n++] = ESCAPES[e] ?? e;
        p += 2;
      }
      continue;
    }
    out[n++] = c;
    p++;
  }
  return undefined;
}

/** Reads after an opening `'`, where only `\'` is an escape. */
function readSingleQuoted(buf: Buffer, p: number, to: number, out: Buffer, n: number): [number, number] | undefined {
  while (p < to) {
    const c = buf[p];
    if (c === 92 && p + 1 < to && buf[p + 1] === 39) {
      out[n++] = 39;
      p += 2;
      continue;
    }
    if (c === 39) return [p + 1, n];
    out[n++] = c;
    p++;
  }
  return undefined;
}
