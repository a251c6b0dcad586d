import type { Logger } from 'pino';
import { CrissError, isCrissError } from '../errors.ts';
import { SUBSCRIBED_CONTEXT, inSubscribedContext } from '../pubsub/broker.ts';
import type { ReplyWriter } from '../resp/reply.ts';
import { type CommandRegistry, type RegistryEntry, arityAccepts, unknownCommandText, unknownSubcommandText } from './registry.ts';
import type { ClientSession, CommandContext, CommandSpec } from './spec.ts';

/** The reply stream a front-end hands over: a ReplyWriter that can take back a partial reply. */
export interface DispatchReply extends ReplyWriter {
  /** `-text` with one byte per char (latin1), so a raw byte a client sent is echoed unchanged. */
  errorLatin1(text: string): void;
  /** A position in the reply stream, for `rewind`. */
  mark(): number;
  /** Drops what was written after `mark`; false when part of it has already left. */
  rewind(mark: number): boolean;
}

/** The client a command runs for, as dispatch sees it beyond what handlers see. */
export interface DispatchSession extends ClientSession {
  /** Full name of the last command run (`client|list`), for CLIENT LIST. */
  lastCommand: string;
  /** False once the client has gone: a failure is then nobody's reply and no one's error. */
  readonly connected: boolean;
  /** Part of a failed reply already left, so the client cannot be resynchronised: drop it. */
  drop(): void;
}

/** A command that went async. */
export interface Running {
  /** It may wait on the network: the front-end should send the replies queued before it first. */
  readonly blocking: boolean;
  /** CommandSpec.independent: the front-end may start the next independent command before this one settles. */
  readonly independent: boolean;
  /** Settles, never rejecting, once the command has replied (its failure included). */
  readonly done: Promise<void>;
}

/**
 * A command that cannot run as sent: unknown, an unknown subcommand, the wrong number of
 * arguments. `text` is Redis's exact error line, which may echo raw client bytes (latin1).
 */
class RefusedCommand extends CrissError {
  readonly text: string;

  constructor(text: string) {
    super('ERR', text.slice('ERR '.length));
    this.name = 'RefusedCommand';
    this.text = text;
  }
}

function latin1(b: Uint8Array): string {
  // Front-ends decode into Buffers: skip making a view on the path every command takes.
  return Buffer.isBuffer(b) ? b.toString('latin1') : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function arityRefusal(entry: RegistryEntry): RefusedCommand {
  return new RefusedCommand(`ERR wrong number of arguments for '${entry.fullName}' command`);
}

/**
 * Command dispatch for every front-end (RESP connections today; VARWITH and REMOTE run other
 * commands through it; an HTTP gateway later): lookup in any casing, arity, subcommands, the
 * AUTH gate, the call, and the mapping of whatever the handler throws onto one error reply.
 * Front-ends keep only their transport: framing, batching, back-pressure.
 */
export class Dispatcher {
  private readonly registry: CommandRegistry;
  private readonly logger: Logger;
  /**
   * The last name looked up, as the client sent its bytes, and its entry: clients repeat one
   * command, and comparing a few bytes is cheaper than making a string and hashing it.
   */
  private lastName: Uint8Array = new Uint8Array(0);
  private lastEntry: RegistryEntry | undefined;

  constructor(registry: CommandRegistry, logger: Logger) {
    this.registry = registry;
    this.logger = logger;
  }

  /**
   * Runs `argv` (the command name first) for `session`, writing exactly one reply. Returns
   * undefined when the command finished synchronously.
   */
  dispatch(argv: readonly Uint8Array[], session: DispatchSession, reply: DispatchReply): Running | undefined {
    let entry: RegistryEntry;
    try {
      entry = this.resolve(argv);
    } catch (e) {
      reply.errorLatin1((e as RefusedCommand).text);
      return undefined;
    }
    if (!session.authenticated && !entry.noauth) {
      reply.error('NOAUTH', 'Authentication required.');
      return undefined;
    }
    if (inSubscribedContext(session.protocol, session.state) && !SUBSCRIBED_CONTEXT.has(entry.spec.name)) {
      reply.errorLatin1(`ERR Can't execute '${entry.fullName}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
      return undefined;
    }
    session.lastCommand = entry.fullName;
    const mark = reply.mark();
    let result: void | Promise<void>;
    try {
      result = entry.spec.handler({ args: argv.slice(entry.words), client: session, reply });
    } catch (e) {
      this.failed(e, entry, session, reply, mark);
      return undefined;
    }
    if (result === undefined) {
      if (reply.mark() === mark) this.noReply(entry, session, reply);
      return undefined;
    }
    const done = result.then(
      () => {
        if (reply.mark() === mark) this.noReply(entry, session, reply);
      },
      (e: unknown) => this.failed(e, entry, session, reply, mark),
    );
    return { blocking: entry.blocking, independent: entry.independent, done };
  }

  /** Whether `argv` names an independent command (CommandSpec.independent), which may start while earlier ones still run. */
  independent(argv: readonly Uint8Array[]): boolean {
    return this.lookup(argv[0])?.independent === true;
  }

  /** Whether `argv`'s command declares that it keeps nothing of its arguments (CommandSpec.releasesArgs). */
  releasesArgs(argv: readonly Uint8Array[]): boolean {
    return this.lookup(argv[0])?.spec.releasesArgs === true;
  }

  private lookup(name: Uint8Array): RegistryEntry | undefined {
    if (sameBytes(name, this.lastName)) return this.lastEntry;
    const entry = this.registry.resolve(latin1(name));
    if (entry !== undefined) {
      this.lastName = Uint8Array.from(name);
      this.lastEntry = entry;
    }
    return entry;
  }

  /** The entry `argv` names (its arguments follow its `words`); throws RefusedCommand when it cannot run as sent. */
  private resolve(argv: readonly Uint8Array[]): RegistryEntry {
    const entry = this.lookup(argv[0]);
    if (entry === undefined) throw new RefusedCommand(unknownCommandText(argv));
    return this.resolveFrom(entry, argv);
  }

  /**
   * Runs a command on behalf of another (VARWITH, REMOTE): resolved like a client's, limited to
   * the commands `accept` allows (`refused` is the error for any other). Errors reach the
   * calling handler, whose own dispatch turns them into the reply.
   */
  invoke(argv: readonly Uint8Array[], ctx: CommandContext, accept: (spec: CommandSpec) => boolean, refused: () => CrissError): void | Promise<void> {
    const entry = this.registry.resolve(latin1(argv[0]));
    if (entry === undefined || !accept(entry.spec)) throw refused();
    const run = this.resolveFrom(entry, argv);
    return run.spec.handler({ args: argv.slice(run.words), client: ctx.client, reply: ctx.reply });
  }

  private resolveFrom(top: RegistryEntry, argv: readonly Uint8Array[]): RegistryEntry {
    if (!arityAccepts(top.spec.arity, argv.length)) throw arityRefusal(top);
    if (top.subcommands === undefined || argv.length === 1) return top;
    const sub = top.subcommands.get(latin1(argv[1]).toUpperCase());
    if (sub === undefined) throw new RefusedCommand(unknownSubcommandText(top.spec.name, argv[1]));
    if (!arityAccepts(sub.spec.arity, argv.length)) throw arityRefusal(sub);
    return sub;
  }

  private failed(err: unknown, entry: RegistryEntry, session: DispatchSession, reply: DispatchReply, mark: number): void {
    if (!session.connected) return;
    if (!reply.rewind(mark)) {
      this.logger.error({ err, client: session.id, command: entry.fullName }, 'command failed mid-reply');
      session.drop();
      return;
    }
    if (err instanceof RefusedCommand) {
      reply.errorLatin1(err.text);
      return;
    }
    if (isCrissError(err)) {
      reply.error(err.code, err.message);
      return;
    }
    this.logger.error({ err, client: session.id, command: entry.fullName }, 'command failed');
    reply.error('ERR', 'internal error');
  }

  private noReply(entry: RegistryEntry, session: DispatchSession, reply: DispatchReply): void {
    this.logger.error({ client: session.id, command: entry.fullName }, 'command handler wrote no reply');
    reply.error('ERR', 'internal error');
  }
}
