import type { ClientConfig } from '../config.ts';
import { CliFailure, EXIT } from './exit.ts';

/** A RESP2 reply as ioredis hands it over with Buffer replies (errors arrive as rejections). */
export type Reply = Buffer | number | null | Reply[];

export interface Connection {
  /** Send one command; a `-ERR …` reply becomes a CliFailure with exit code 3 (or 4 for auth). */
  call(command: string, ...args: Array<string | Buffer>): Promise<Reply>;
  close(): Promise<void>;
}

function describeConnectError(config: ClientConfig, cause: Error | undefined): string {
  const where = `crisscross daemon at ${config.host}:${config.port}`;
  const message = cause?.message ?? 'connection closed';
  if (message.startsWith('NOAUTH')) return `the ${where} requires a password: pass --password or set CRISSCROSS_PASSWORD`;
  if (message.startsWith('WRONGPASS') || message.includes('invalid password')) return `the ${where} refused the password`;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ECONNREFUSED' ? 'connection refused' : message;
  return `cannot reach the ${where} (${reason}): is \`crisscross serve\` running there? (--host/--port or CRISSCROSS_HOST/CRISSCROSS_PORT)`;
}

/** Connect or fail at once: a CLI must not sit retrying against a daemon that is not there. */
export async function connect(config: ClientConfig): Promise<Connection> {
  // Loaded on demand, so `--help` and usage errors answer without paying for the client.
  const { Redis } = await import('ioredis');
  const redis = new Redis({
    host: config.host,
    port: config.port,
    ...(config.password !== undefined ? { password: config.password } : {}),
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 3000,
  });
  // ioredis rejects connect() with a bare "Connection is closed."; the cause comes as an event.
  let lastError: Error | undefined;
  redis.on('error', (e: Error) => {
    lastError = e;
  });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new CliFailure(EXIT.unreachable, describeConnectError(config, lastError ?? (e as Error)));
  }
  return {
    async call(command, ...args) {
      try {
        return (await redis.callBuffer(command, args)) as Reply;
      } catch (e) {
        const err = e as Error;
        if (err.name !== 'ReplyError') throw new CliFailure(EXIT.unreachable, describeConnectError(config, lastError ?? err));
        if (/^(NOAUTH|WRONGPASS)\b/.test(err.message)) throw new CliFailure(EXIT.unreachable, describeConnectError(config, err));
        throw new CliFailure(EXIT.server, err.message);
      }
    },
    async close() {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
