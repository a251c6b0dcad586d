import { InvalidArgumentError, type Command } from 'commander';
import { resolveClientConfig, SETTINGS, type ClientConfig } from '../config.ts';
import { isCrissError } from '../errors.ts';
import { connect, type Connection, type Reply } from './client.ts';
import { CliFailure, EXIT } from './exit.ts';

export const ID_HELP = 'a root id (base58), ^variable, *file.yaml#Field, or "" / nil for the empty tree';

export interface ConnectionFlags {
  host?: string;
  port?: string;
  password?: string;
}

function settingHelp(key: 'host' | 'port' | 'password', what: string): string {
  const s = SETTINGS[key];
  return `${what} (env ${s.env}${s.default !== undefined ? `, default ${s.default}` : ''})`;
}

/** Every client subcommand takes the same way to reach the daemon as `serve` takes to listen. */
export function clientCommand(cmd: Command): Command {
  return cmd
    .option('--host <host>', settingHelp('host', 'daemon host'))
    .option('-p, --port <port>', settingHelp('port', 'daemon port'))
    .option('-a, --password <password>', settingHelp('password', 'daemon password'));
}

/**
 * The connection flags given before the subcommand (`crisscross -p 6400 get …`, as with
 * redis-cli) overlaid with those given after it, which win as the later ones on the line.
 */
export function connectionFlags(cmd: Command): ConnectionFlags {
  const flags: ConnectionFlags = {};
  for (const source of [cmd.parent?.opts<ConnectionFlags>() ?? {}, cmd.opts<ConnectionFlags>()]) {
    if (source.host !== undefined) flags.host = source.host;
    if (source.port !== undefined) flags.port = source.port;
    if (source.password !== undefined) flags.password = source.password;
  }
  return flags;
}

export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** Run `fn` against the daemon named by the command's options, always closing the connection. */
export async function withDaemon<T>(cmd: Command, fn: (conn: Connection) => Promise<T>): Promise<T> {
  let config: ClientConfig;
  try {
    config = resolveClientConfig(connectionFlags(cmd));
  } catch (e) {
    if (isCrissError(e)) throw new CliFailure(EXIT.usage, e.message);
    throw e;
  }
  const conn = await connect(config);
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

/** `--ttl` in milliseconds; -1 pins forever (the daemon's convention). */
export function parseTtl(value: string): number {
  const ttl = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(ttl) || ttl < -1) throw new InvalidArgumentError('expected milliseconds (>= 0) or -1 for forever');
  return ttl;
}

export function parseCount(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Write to stdout, waiting when the pipe is full so long listings keep memory flat. */
export function write(data: string | Uint8Array): Promise<void> {
  if (process.stdout.write(data)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      process.stdout.off('drain', done);
      process.stdout.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    process.stdout.on('drain', done);
    process.stdout.on('error', done);
  });
}

/** A value's raw bytes, as pipes and files expect them; on a terminal the line is ended if they do not end it. */
export async function writeValue(raw: Uint8Array): Promise<void> {
  await write(raw);
  if (process.stdout.isTTY && raw.at(-1) !== 0x0a) await write('\n');
}

/**
 * Write to stdout and wait until the bytes have left the process, so that their buffer may be
 * reused (pipes are asynchronous on some systems: `write` returning true does not mean that).
 */
export function writeOut(data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

export function bytes(reply: Reply, what: string): Buffer {
  if (Buffer.isBuffer(reply)) return reply;
  throw new CliFailure(EXIT.server, `unexpected reply to ${what}: ${JSON.stringify(reply)}`);
}

export function integer(reply: Reply, what: string): number {
  if (typeof reply === 'number') return reply;
  throw new CliFailure(EXIT.server, `unexpected reply to ${what}: ${JSON.stringify(reply)}`);
}

export function list(reply: Reply, what: string): Reply[] {
  if (Array.isArray(reply)) return reply;
  throw new CliFailure(EXIT.server, `unexpected reply to ${what}: ${JSON.stringify(reply)}`);
}
