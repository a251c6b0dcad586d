import type { ReplyWriter } from './reply.ts';

/** Where a flush goes: a `net.Socket` in the server, anything with the same contract in tests. */
export interface ReplySink {
  /** `written` is called once the sink no longer reads `chunk` (net.Socket's write callback). */
  write(chunk: Uint8Array, written?: () => void): boolean;
  cork?(): void;
  uncork?(): void;
}

const INITIAL_CAPACITY = 16 * 1024;
/** Flushes up to this size are copied out (cheap, pooled) so the buffer can be reused. */
const COPY_OUT_LIMIT = 16 * 1024;
const MAX_REUSED_CAPACITY = 1024 * 1024;
/** Bulk values at least this large are queued by reference instead of copied. */
const ZERO_COPY_BULK = 64 * 1024;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The reply buffer of one connection: encodes replies straight into a growable Buffer in the
 * client's protocol, and hands everything accumulated to the socket in one write per flush.
 * Large bulk values are queued as separate segments, never copied.
 */
export class ReplyBuffer implements ReplyWriter {
  protocol: 2 | 3 = 2;

  private buf: Buffer;
  private pos = 0;
  /** Segments that precede `buf[0, pos)`, in order; only non-empty after a large bulk. */
  private segments: Uint8Array[] = [];
  /** Parallel to `segments`: who hears when each has been written. */
  private written: Array<(() => void) | undefined> = [];
  private segmentBytes = 0;
  /** Bytes handed to a sink so far; `mark` positions are absolute, so they survive flushes. */
  private flushed = 0;

  /** `capacity`: a buffer holding one command's reply (a pipelined one waiting its turn) starts small. */
  constructor(capacity = INITIAL_CAPACITY) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Bytes written and not yet flushed. */
  get length(): number {
    return this.segmentBytes + this.pos;
  }

  /** An absolute position, to undo a partial reply with `rewind`. */
  mark(): number {
    return this.flushed + this.segmentBytes + this.pos;
  }

  /** Drops everything written after `mark`; false when part of it already left (or is queued). */
  rewind(mark: number): boolean {
    const base = this.flushed + this.segmentBytes;
    if (mark < base) return false;
    this.pos = mark - base;
    return true;
  }

  /** Writes all pending bytes to `sink`; returns what `sink.write` returned (false = back off). */
  flush(sink: ReplySink): boolean {
    if (this.segments.length === 0) {
      if (this.pos === 0) return true;
      const out = this.takeBuffer();
      this.flushed += out.length;
      return sink.write(out);
    }
    if (this.pos > 0) this.cut();
    const segments = this.segments;
    const written = this.written;
    this.segments = [];
    this.written = [];
    this.flushed += this.segmentBytes;
    this.segmentBytes = 0;
    sink.cork?.();
    let ok = true;
    for (let i = 0; i < segments.length; i++) ok = sink.write(segments[i], written[i]);
    sink.uncork?.();
    return ok;
  }

  simple(text: string): void {
    this.textLine(43 /* '+' */, sanitize(text));
  }

  error(code: string, message: string): void {
    this.textLine(45 /* '-' */, sanitize(`${code} ${message}`));
  }

  /** `-text` with `text` written as latin1, so a raw byte a client sent is echoed unchanged. */
  errorLatin1(text: string): void {
    this.line(45, sanitize(text));
  }

  integer(n: number | bigint): void {
    if (typeof n === 'bigint' && (n < INT64_MIN || n > INT64_MAX)) {
      // Beyond a RESP2 integer: RESP3 has big numbers, RESP2 clients get the decimal text.
      if (this.protocol === 3) this.line(40 /* '(' */, n.toString());
      else this.bulk(n.toString());
      return;
    }
    this.line(58 /* ':' */, typeof n === 'number' ? String(Math.trunc(n)) : n.toString());
  }

  bulk(value: Uint8Array | string): void {
    if (typeof value === 'string') {
      const len = Buffer.byteLength(value, 'utf8');
      this.line(36 /* '$' */, String(len));
      this.ensure(len + 2);
      this.pos += this.buf.write(value, this.pos, len, 'utf8');
      this.crlf();
      return;
    }
    this.line(36, String(value.length));
    this.payload(value);
    this.crlf();
  }

  bulkParts(parts: readonly Uint8Array[], written?: () => void): void {
    let len = 0;
    let queued = 0;
    for (const p of parts) {
      len += p.length;
      if (p.length >= ZERO_COPY_BULK) queued++;
    }
    this.line(36, String(len));
    if (written === undefined || queued === 0) {
      for (const p of parts) this.payload(p);
      this.crlf();
      written?.();
      return;
    }
    const one = (): void => {
      if (--queued === 0) written();
    };
    for (const p of parts) this.payload(p, p.length >= ZERO_COPY_BULK ? one : undefined);
    this.crlf();
  }

  /** `written` hears when `value` is no longer read: at once when copied, else once the sink wrote it. */
  private payload(value: Uint8Array, written?: () => void): void {
    const len = value.length;
    if (len >= ZERO_COPY_BULK) {
      this.cut();
      this.segments.push(value);
      this.written[this.segments.length - 1] = written;
      this.segmentBytes += len;
    } else {
      this.ensure(len);
      this.buf.set(value, this.pos);
      this.pos += len;
      written?.();
    }
  }

  nil(): void {
    if (this.protocol === 3) this.raw('_\r\n');
    else this.raw('$-1\r\n');
  }

  array(len: number): void {
    this.line(42 /* '*' */, String(len));
  }

  push(len: number): void {
    this.line(this.protocol === 3 ? 62 /* '>' */ : 42, String(len));
  }

  /** Bytes already encoded (a frame held back while a command ran), copied or queued as they are. */
  append(bytes: Uint8Array, written?: () => void): void {
    this.payload(bytes, written);
  }

  map(len: number): void {
    if (this.protocol === 3) this.line(37 /* '%' */, String(len));
    else this.line(42, String(len * 2));
  }

  double(n: number): void {
    const text = formatDouble(n);
    if (this.protocol === 3) this.line(44 /* ',' */, text);
    else this.bulk(text);
  }

  boolean(b: boolean): void {
    if (this.protocol === 3) this.raw(b ? '#t\r\n' : '#f\r\n');
    else this.raw(b ? ':1\r\n' : ':0\r\n');
  }

  verbatim(text: string): void {
    if (this.protocol !== 3) {
      this.bulk(text);
      return;
    }
    const len = Buffer.byteLength(text, 'utf8');
    this.line(61 /* '=' */, String(len + 4));
    this.ensure(len + 6);
    this.pos += this.buf.write('txt:', this.pos, 4, 'latin1');
    this.pos += this.buf.write(text, this.pos, len, 'utf8');
    this.crlf();
  }

  /** `prefix` + ASCII/latin1 `text` + CRLF: every header and status line. */
  private line(prefix: number, text: string): void {
    const n = text.length;
    this.ensure(n + 3);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = prefix;
    // Short headers are the hot path; a byte loop beats a native call at this size.
    if (n <= 16) for (let i = 0; i < n; i++) buf[p++] = text.charCodeAt(i);
    else p += buf.write(text, p, n, 'latin1');
    buf[p++] = 13;
    buf[p++] = 10;
    this.pos = p;
  }

  /** Like `line`, for text that may hold any Unicode (written as UTF-8). */
  private textLine(prefix: number, text: string): void {
    if (isAscii(text)) {
      this.line(prefix, text);
      return;
    }
    const len = Buffer.byteLength(text, 'utf8');
    this.ensure(len + 3);
    this.buf[this.pos++] = prefix;
    this.pos += this.buf.write(text, this.pos, len, 'utf8');
    this.crlf();
  }

  private raw(text: string): void {
    this.ensure(text.length);
    this.pos += this.buf.write(text, this.pos, text.length, 'latin1');
  }

  private crlf(): void {
    this.ensure(2);
    this.buf[this.pos++] = 13;
    this.buf[this.pos++] = 10;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Moves `buf[0, pos)` to the segment list (before a queued bulk value). */
  private cut(): void {
    if (this.pos === 0) return;
    const out = this.takeBuffer();
    this.segments.push(out);
    this.written[this.segments.length - 1] = undefined;
    this.segmentBytes += out.length;
  }

  /** The pending bytes as a buffer the caller owns; our buffer is free for reuse afterwards. */
  private takeBuffer(): Buffer {
    let out: Buffer;
    if (this.pos <= COPY_OUT_LIMIT) {
      out = Buffer.allocUnsafe(this.pos);
      this.buf.copy(out, 0, 0, this.pos);
    } else {
      out = this.buf.subarray(0, this.pos);
      // Batches this big tend to repeat: start the next at the same size, within reason.
      this.buf = Buffer.allocUnsafe(Math.min(this.buf.length, MAX_REUSED_CAPACITY));
    }
    this.pos = 0;
    return out;
  }
}

/** CR or LF inside a status or error line would end it early and desync the client. */
function sanitize(text: string): string {
  return text.includes('\r') || text.includes('\n') ? text.replace(/[\r\n]/g, ' ') : text;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

function formatDouble(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return String(n);
}
