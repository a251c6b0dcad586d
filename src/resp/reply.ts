/**
 * The surface a command handler writes its reply through. The connection's implementation
 * encodes straight into its output buffer in the client's protocol (RESP2 or RESP3), so a
 * handler never builds intermediate reply objects.
 */
export interface ReplyWriter {
  readonly protocol: 2 | 3;
  /** `+text` */
  simple(text: string): void;
  /** `-CODE message`; `code` is the first word (ERR, WRONGTYPE, NOTFOUND, …). */
  error(code: string, message: string): void;
  /** `:n` */
  integer(n: number | bigint): void;
  /** `$len bytes`; strings are written as UTF-8. */
  bulk(value: Uint8Array | string): void;
  /**
   * One bulk string made of several pieces, without joining them first (file reads). `written`
   * is called once no piece is read any more: copied, or taken by the socket (never, if the
   * connection closes first).
   */
  bulkParts(parts: readonly Uint8Array[], written?: () => void): void;
  /** RESP2 `$-1`, RESP3 `_`. */
  nil(): void;
  /** `*len`; the caller then writes exactly `len` items. */
  array(len: number): void;
  /** RESP3 `>len`, an out-of-band push (pub/sub messages); RESP2 `*len`. */
  push(len: number): void;
  /** RESP3 `%len` (len pairs); RESP2 a flat `*2len` array. */
  map(len: number): void;
  /** RESP3 `,double`; RESP2 a bulk string. */
  double(n: number): void;
  /** RESP3 `#t`/`#f`; RESP2 `:1`/`:0`. */
  boolean(b: boolean): void;
  /** RESP3 `=len txt:…` verbatim text; RESP2 a bulk string. */
  verbatim(text: string): void;
}
