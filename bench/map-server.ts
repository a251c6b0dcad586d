import { pino } from 'pino';
import { Dispatcher } from '../src/commands/dispatch.ts';
import { CommandRegistry } from '../src/commands/registry.ts';
import { serverCommands } from '../src/commands/server.ts';
import { RespServer } from '../src/resp/server.ts';

export interface MapServer {
  port: number;
  /** What GET serves, by key as latin1 text. */
  data: Map<string, Uint8Array>;
  close: () => Promise<void>;
}

/**
 * The RESP front-end (RespServer, Dispatcher) serving GET/SET from an in-memory Map, in this
 * process: the protocol layer's cost without a store, for `bench/resp.ts` and `bench/daemon.ts`.
 */
export async function startMapServer(): Promise<MapServer> {
  const logger = pino({ level: 'silent' });
  const registry = new CommandRegistry();
  const data = new Map<string, Uint8Array>();
  const spec = { flags: ['fast'], group: 'bench', since: '0.1.0', reply: 'bench' };
  registry.register(
    ...serverCommands({ registry, logger }),
    {
      ...spec,
      name: 'GET',
      arity: 2,
      summary: 'Map lookup',
      arguments: [{ name: 'key', type: 'key' }],
      handler: ({ args, reply }) => {
        const v = data.get(Buffer.from(args[0].buffer, args[0].byteOffset, args[0].length).toString('latin1'));
        if (v === undefined) reply.nil();
        else reply.bulk(v);
      },
    },
    {
      ...spec,
      name: 'SET',
      arity: 3,
      summary: 'Map store',
      arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' }],
      handler: ({ args, reply }) => {
        data.set(Buffer.from(args[0].buffer, args[0].byteOffset, args[0].length).toString('latin1'), Uint8Array.from(args[1]));
        reply.simple('OK');
      },
    },
  );
  const server = new RespServer({ host: '127.0.0.1', port: 0, dispatcher: new Dispatcher(registry, logger), logger });
  const { port } = await server.listen();
  return { port, data, close: () => server.close() };
}
