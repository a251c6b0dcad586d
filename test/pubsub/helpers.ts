import { pino } from 'pino';
import { Dispatcher } from '../../src/commands/dispatch.ts';
import { pubsubCommands } from '../../src/commands/pubsub.ts';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { serverCommands } from '../../src/commands/server.ts';
import { Broker } from '../../src/pubsub/broker.ts';
import { RespServer, type ServerLimits } from '../../src/resp/server.ts';
import type { CommandSpec } from '../../src/commands/spec.ts';
import { type RawClient, type Reply, frame, parseAll, rawClient } from '../resp/helpers.ts';

export interface PubsubServer {
  server: RespServer;
  broker: Broker;
  port: number;
  close(): Promise<void>;
}

/** A RESP server with the server and pub/sub commands only (and `extra`, test commands). */
export async function startPubsubServer(limits: Partial<ServerLimits> = {}, extra: CommandSpec[] = []): Promise<PubsubServer> {
  const logger = pino({ level: 'silent' });
  const broker = new Broker();
  const registry = new CommandRegistry();
  registry.register(...serverCommands({ registry, logger, version: '0.1.0-test' }), ...pubsubCommands({ broker }), ...extra);
  const server = new RespServer({
    host: '127.0.0.1',
    port: 0,
    dispatcher: new Dispatcher(registry, logger),
    logger,
    limits,
    info: [{ section: 'pubsub', fields: () => broker.info() }],
  });
  const { port } = await server.listen();
  return { server, broker, port, close: () => server.close() };
}

function isPong(r: Reply): boolean {
  if (r === 'PONG') return true;
  return Array.isArray(r) && r.length === 2 && Buffer.isBuffer(r[0]) && r[0].toString() === 'pong' && Buffer.isBuffer(r[1]) && r[1].length === 0;
}

/**
 * A scripted client: `send` writes bytes followed by a PING and waits for that PING's answer,
 * so every reply and every message pushed before it has arrived. Both servers get the same
 * script; what each client received is then compared byte for byte.
 */
export class ScriptClient {
  private readonly raw: RawClient;
  private skip = 0;

  private constructor(raw: RawClient) {
    this.raw = raw;
  }

  static async open(port: number, resp3 = false): Promise<ScriptClient> {
    const c = new ScriptClient(await rawClient(port));
    if (resp3) {
      c.raw.socket.write(frame('HELLO', '3'));
      await c.waitFor((all) => all.length >= 1);
      // The HELLO map names the server and the connection id: not part of the comparison.
      c.skip = c.raw.received().length;
    }
    return c;
  }

  async send(bytes: Buffer): Promise<void> {
    const before = parseAll(this.raw.received()).length;
    this.raw.socket.write(Buffer.concat([bytes, frame('PING')]));
    await this.waitFor((all) => all.length > before && isPong(all[all.length - 1]));
  }

  /** Waits until everything pushed to this client so far has arrived. */
  sync(): Promise<void> {
    return this.send(Buffer.alloc(0));
  }

  /** Sends without a barrier: for QUIT, or a client that may be cut. */
  write(bytes: Buffer): void {
    this.raw.socket.write(bytes);
  }

  received(): string {
    return this.raw.received().subarray(this.skip).toString('latin1');
  }

  frames(): Reply[] {
    return parseAll(this.raw.received().subarray(this.skip));
  }

  get closed(): Promise<void> {
    return this.raw.closed;
  }

  close(): void {
    this.raw.socket.destroy();
  }

  private async waitFor(done: (all: Reply[]) => boolean): Promise<void> {
    for (let n = this.raw.received().length + 1; ; n = this.raw.received().length + 1) {
      if (done(parseAll(this.raw.received()))) return;
      await this.raw.waitForBytes(n);
    }
  }
}
