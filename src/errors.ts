/**
 * Every error that crosses a module boundary is a CrissError: it carries the Redis-style code
 * (the first word of a RESP error reply) so the front-end can answer without guessing.
 */
export type ErrorCode =
  | 'ERR'
  | 'WRONGTYPE'
  | 'NOTFOUND'
  | 'MISSINGBLOCK'
  | 'BADID'
  | 'BADVALUE'
  | 'BADBLOCK'
  | 'TOOBIG'
  | 'NOAUTH'
  | 'WRONGPASS'
  | 'NOPROTO'
  | 'CONFLICT'
  | 'CLOSED'
  /** A key is missing: the cluster's PrivateKey (PUSH), or a key pair Name not in the keys dir (tunnels). */
  | 'NOKEY'
  /** SQL: a statement SQLite or the tree tables rejected (syntax, unknown table, unsupported). */
  | 'SQL'
  /** SQL: a PRIMARY KEY, UNIQUE or NOT NULL constraint failed. */
  | 'CONSTRAINT'
  /** SQL: a write statement sent to SQLREAD (Redis's code for writes refused). */
  | 'READONLY'
  | 'NOCLUSTER'
  /** A signed DHT record (pointer) that fails verification or is older than one held. */
  | 'BADRECORD'
  /** Tunnels: TUNNEL_TOKEN unset or not the one given. */
  | 'NOPERM'
  /** Tunnels: what the serving peer answered (docs/tunnel-protocol.md). */
  | 'REFUSED'
  | 'NOTALLOWED'
  | 'LIMIT'
  | 'UNREACHABLE'
  /** Tunnels: no peer of the cluster proved the key of the Name. */
  | 'NOPROVIDER'
  /** A peer broke a wire protocol. */
  | 'PROTOCOL'
  /** A wait ran out (a stream with no room in time). */
  | 'TIMEOUT'
  /** No worker serves the service a stream was opened to. */
  | 'NOWORKER'

  /** Jobs: the name is not a key pair Name; no such service here; its queue is full. */
  | 'BADSERVICE'
  | 'NOSERVICE'
  | 'QUEUEFULL'
  /** Jobs: no answer in time; the caller went away; the worker went away holding the call. */
  | 'CANCELLED'
  | 'JOBLOST'
  /** Jobs: no such call awaits an answer; no such key; a key that is not the service's; an answer that does not verify. */
  | 'NOJOB'
  | 'BADKEY'
  | 'BADANSWER'
  /** CLIENT UNBLOCK … ERROR ended a blocked command (Redis's code). */
  | 'UNBLOCKED';

export class CrissError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CrissError';
  }
}

export function isCrissError(e: unknown): e is CrissError {
  return e instanceof CrissError;
}
