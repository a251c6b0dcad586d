import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Dispatcher } from '../commands/dispatch.ts';
import type { ClientSession } from '../commands/spec.ts';
import { CrissError } from '../errors.ts';
import { Connection, type ConnectionHost, type ConnectionLimits, type ServerStats } from './connection.ts';
import { DEFAULT_DECODER_LIMITS } from './decoder.ts';

export type { ConnectionLimits as ServerLimits, ServerStats } from './connection.ts';

/** A section another layer adds to INFO (`# Store`, `# Cluster`, …). */
export interface InfoSource {
  section: string;
  fields(): Array<[string, string | number]>;
}

/** What CLIENT LIST / CLIENT INFO report about a connection. */
export interface ClientView {
  readonly id: number;
  readonly name: string;
  readonly addr: string;
  readonly laddr: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly lastInteraction: number;
  readonly lastCommand: string;
  readonly protocol: 2 | 3;
  readonly inputBuffered: number;
  readonly outputBuffered: number;
  readonly blocked: boolean;
  /** Channels and patterns subscribed to (CLIENT LIST `sub`, `psub`). */
  readonly subscribed: { channels: number; patterns: number };
  libName: string;
  libVer: string;
  /** CLIENT UNBLOCK: ends a wait a blocking command offered to end (`unblocker`); false when there is none. */
  unblock(error: boolean): boolean;
  /** CLIENT KILL: closes the connection now. */
  kill(): void;
}

/** The server as the server-level commands (AUTH, CLIENT, INFO) see it. */
export interface ServerView {
  readonly clients: ClientView[];
  client(id: number): ClientView | undefined;
  readonly passwordRequired: boolean;
  /** Checks a username (undefined: `default`) and password against the configured password. */
  authenticate(username: Uint8Array | undefined, password: Uint8Array): boolean;
  readonly infoSources: readonly InfoSource[];
  /** The bound TCP port, 0 before `listen`. */
  readonly port: number;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly stats: Readonly<ServerStats>;
}

export interface RespServerOptions {
  host: string;
  port: number;
  password?: string;
  dispatcher: Dispatcher;
  logger: Logger;
  limits?: Partial<ConnectionLimits>;
  info?: InfoSource[];
}

export const DEFAULT_SERVER_LIMITS: Readonly<ConnectionLimits> = {
  ...DEFAULT_DECODER_LIMITS,
  maxPendingOutput: 64 * 1024 * 1024,
  // Two of the CLI's 1 MiB FILEWRITE pieces; the rest of what a client sends ahead waits in the
  // kernel's socket buffers. At 8 MiB the decoder's buffer doubled to 8 MiB per upload and was
  // copied at each doubling: uploads ran at 128-158 MiB/s with 7.5-10.7 s of daemon CPU per GiB,
  // at 2 MiB 180-219 MiB/s with 5.8-7.1 s (docs/benchmarks.md).
  maxPendingInput: 2 * 1024 * 1024,
  closeTimeoutMs: 5000,
  maxPushOutput: 32 * 1024 * 1024,
};

const HTTP_WARNING_INTERVAL_MS = 60_000;

const owners = new WeakMap<ClientSession, RespServer>();

/**
 * The server a session belongs to: how server-level commands (AUTH, CLIENT LIST, INFO) reach
 * it without the command specs having to exist after the server.
 */
export function serverOf(client: ClientSession): ServerView {
  const server = owners.get(client);
  if (server === undefined) throw new CrissError('ERR', 'session is not served by a RESP server');
  return server;
}

/** The RESP front-end: accepts connections on one TCP address and runs their commands. */
export class RespServer implements ServerView, ConnectionHost {
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  readonly stats: ServerStats = {
    connectionsReceived: 0,
    commandsProcessed: 0,
    netInputBytes: 0,
    netOutputBytes: 0,
    rejectedOutputLimit: 0,
    rejectedPushLimit: 0,
  };
  readonly startedAt = Date.now();

  private readonly host: string;
  private readonly requestedPort: number;
  private readonly passwordDigest: Buffer | undefined;
  private readonly sources: InfoSource[];
  private readonly connections = new Map<number, Connection>();
  private readonly server: Server;
  private nextId = 1;
  private boundPort = 0;
  private lastHttpWarning = -Infinity;
  private closing: Promise<void> | undefined;

  constructor(options: RespServerOptions) {
    this.host = options.host;
    this.requestedPort = options.port;
    this.dispatcher = options.dispatcher;
    this.logger = options.logger;
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
    this.passwordDigest = options.password === undefined || options.password === '' ? undefined : digest(options.password);
    this.sources = [...(options.info ?? [])];
    this.server = createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true }, this.accept);
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.requestedPort, this.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.logger.error({ err }, 'RESP listener error'));
        const address = this.server.address() as AddressInfo;
        this.boundPort = address.port;
        this.logger.info({ host: address.address, port: address.port }, 'RESP server listening');
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /** Stops accepting, lets each connection finish its command in flight and flush, then closes. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await Promise.all([...this.connections.values()].map((c) => c.shutdown()));
      await stopped;
      this.logger.info('RESP server closed');
    })();
    return this.closing;
  }

  /** Adds an INFO section after construction (a layer that starts later). */
  addInfoSource(source: InfoSource): void {
    this.sources.push(source);
  }

  get infoSources(): readonly InfoSource[] {
    return this.sources;
  }

  get clients(): ClientView[] {
    return [...this.connections.values()];
  }

  client(id: number): ClientView | undefined {
    return this.connections.get(id);
  }

  get port(): number {
    return this.boundPort;
  }

  get passwordRequired(): boolean {
    return this.passwordDigest !== undefined;
  }

  authenticate(username: Uint8Array | undefined, password: Uint8Array): boolean {
    if (username !== undefined && Buffer.from(username).toString('latin1') !== 'default') return false;
    // With no password the default user accepts anything, as Redis's `nopass` user does.
    if (this.passwordDigest === undefined) return true;
    return timingSafeEqual(digest(password), this.passwordDigest);
  }

  httpDetected(conn: Connection): void {
    const now = Date.now();
    if (now - this.lastHttpWarning < HTTP_WARNING_INTERVAL_MS) return;
    this.lastHttpWarning = now;
    this.logger.warn(
      { addr: conn.addr },
      'Possible SECURITY ATTACK detected: HTTP (POST or Host:) sent to the RESP port, likely cross-protocol scripting. Connection aborted.',
    );
  }

  closed(conn: Connection): void {
    this.connections.delete(conn.id);
  }

  private readonly accept = (socket: Socket): void => {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    this.stats.connectionsReceived++;
    const conn = new Connection(this.nextId++, socket, this);
    this.connections.set(conn.id, conn);
    owners.set(conn, this);
  };
}

/** Fixed-length digests, so comparing them is constant time whatever the password lengths. */
function digest(secret: string | Uint8Array): Buffer {
  return createHash('sha256').update(secret).digest();
}
