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
  /** SQL: a statement SQLite or the tree tables rejected (syntax, unknown table, unsupported). */
  | 'SQL'
  /** SQL: a PRIMARY KEY, UNIQUE or NOT NULL constraint failed. */
  | 'CONSTRAINT'
  /** SQL: a write statement sent to SQLREAD (Redis's code for writes refused). */
  | 'READONLY'
  | 'NOCLUSTER'
  /** A wait ran out (a stream with no room in time). */
  | 'TIMEOUT'
  /** No worker serves the service a stream was opened to. */
  | 'NOWORKER';

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
