import type { ReplyWriter } from '../resp/reply.ts';

/** One argument as `COMMAND DOCS` describes it (the shape redis-cli's hints need). */
export interface ArgumentDoc {
  name: string;
  type: 'string' | 'integer' | 'double' | 'key' | 'pattern' | 'unix-time' | 'pure-token' | 'oneof' | 'block';
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  display_text?: string;
  arguments?: ArgumentDoc[];
}

/** What a handler sees of the connection that sent the command. */
export interface ClientSession {
  readonly id: number;
  name: string;
  /** 2 until the client sends `HELLO 3`. */
  protocol: 2 | 3;
  authenticated: boolean;
  /** Per-connection state owned by command families (e.g. the open iterator). */
  readonly state: Map<string, unknown>;
  /**
   * Aborts once the client has closed or half-closed its side: what waits on its behalf
   * (JOBGET, JOBDO, STREAMGET) ends instead of holding work for no one. Absent for sessions that never leave.
   */
  readonly gone?: AbortSignal;
  /**
   * Set by a blocking command while it waits (JOBGET) and cleared when the wait ends: CLIENT
   * UNBLOCK calls it, `error` true for UNBLOCK … ERROR.
   */
  unblocker?: ((error: boolean) => void) | undefined;
  /** Close the connection after the current reply has been flushed (QUIT). */
  closeAfterReply(): void;
  /**
   * Queues an out-of-band frame (a pub/sub message) behind the replies already written; it
   * leaves even while the client sends nothing. Absent on front-ends that cannot push.
   */
  push?(frame: (reply: ReplyWriter) => void): void;
  /** Resolves once fewer than `bytes` are waiting to reach the client: how a stream slows its producer. */
  writable?(bytes: number): Promise<void> | undefined;
}

export interface CommandContext {
  /** Arguments after the command name, as raw bytes (binary safe). */
  readonly args: Uint8Array[];
  readonly client: ClientSession;
  readonly reply: ReplyWriter;
}

/**
 * A handler either replies synchronously or returns a promise that settles after it replied.
 * A thrown CrissError (or a rejected promise with one) becomes `-CODE message`.
 */
export type Handler = (ctx: CommandContext) => void | Promise<void>;

export interface CommandSpec {
  /** Upper-case command name, e.g. `PUTMULTIBIN`. */
  name: string;
  /** Redis convention: counts the name itself; negative means "at least |arity|". */
  arity: number;
  /** Redis command flags (`readonly`, `write`, `fast`, `noauth`, `loading`, `stale`, …). */
  flags: string[];
  group: string;
  since: string;
  summary: string;
  arguments: ArgumentDoc[];
  /** Human description of every reply shape, shown in COMMAND DOCS and the README. */
  reply: string;
  /**
   * Neither depends on what the connection's earlier commands did nor changes what its later
   * ones see, beyond its own reply: a tree write names its input tree and returns a root no
   * one could name before, a read names the tree it reads. A pipelined run of such commands
   * starts each without waiting for the one before (replies stay in order), so their durable
   * writes share a group commit. Any other command (VARSET, AUTH, HELLO, anything stateful)
   * starts only once every command before it has finished, and the ones after it wait for it.
   */
  independent?: boolean;
  /**
   * The handler keeps no reference to its arguments once it has settled (it copies what it
   * keeps), so the front-end may reuse their memory for later input: an upload's pieces, which
   * would otherwise cost a fresh buffer each (src/resp/bulk-buffers.ts).
   */
  releasesArgs?: boolean;
  /** Subcommands (CLIENT SETNAME, COMMAND DOCS, …), same shape, names like `CLIENT|SETNAME`. */
  subcommands?: CommandSpec[];
  handler: Handler;
}
