import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DispatchSession, Dispatcher } from '../../src/commands/dispatch.ts';
import { CommandRegistry } from '../../src/commands/registry.ts';
import type { CommandSpec } from '../../src/commands/spec.ts';
import { CrissError } from '../../src/errors.ts';
import { ReplyBuffer } from '../../src/resp/writer.ts';
import { exchange, frame, gate } from '../resp/helpers.ts';
import { type TreeServer, startTreeServer } from './tree-server.ts';

/** A front-end with no transport at all: what an HTTP gateway or a test gets from the dispatcher. */
function session(over: Partial<DispatchSession> = {}): DispatchSession & { dropped: boolean } {
  const s = {
    id: 1, name: '', protocol: 2 as const, authenticated: true, state: new Map<string, unknown>(), lastCommand: 'NULL',
    connected: true, dropped: false,
    closeAfterReply: () => undefined,
    drop: () => {
      s.dropped = true;
    },
    ...over,
  };
  return s;
}

class Collected {
  readonly reply = new ReplyBuffer();
  private readonly chunks: Buffer[] = [];

  take(): string {
    this.reply.flush({ write: (c) => (this.chunks.push(Buffer.from(c)), true) });
    const out = Buffer.concat(this.chunks).toString('latin1');
    this.chunks.length = 0;
    return out;
  }
}

async function run(d: Dispatcher, argv: Array<string | Buffer>, s: DispatchSession = session()): Promise<string> {
  const out = new Collected();
  await d.dispatch(argv.map((a) => Buffer.from(a)), s, out.reply)?.done;
  return out.take();
}

describe('the dispatcher shared by every front-end', () => {
  let t: TreeServer;
  beforeAll(async () => {
    t = await startTreeServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers byte for byte what a RESP client gets over a socket', async () => {
    const root = (await t.redis.call('PUTMULTIBIN', '', '-1', 'hello', 'world')) as string;
    await t.redis.call('VARSET', 'cur', root);
    const commands: Array<Array<string | Buffer>> = [
      ['PING'], ['ping', 'hi'], ['FETCHBIN', root, 'hello'], ['fetchbin', root, 'nope'], ['FETCHBIN', root],
      ['NOSUCH', Buffer.from([0x61, 0xff, 0x00, 0x62]), 'x'], ['COMMAND', 'NOSUCH'], ['COMMAND', Buffer.from([0xe9])],
      ['COMMAND', 'COUNT', 'extra'], ['KEYCOUNT', 'QmNotAnId'], ['VARWITH', 'cur', 'FETCHBIN', 'hello'],
      ['VARWITH', 'cur', 'PING'], ['VARWITH', 'cur', 'FETCHBIN'], ['VARWITH', 'cur', Buffer.from([0xdf, 0xb5]), 'x'],
      ['VARWITH', 'nobody', 'KEYCOUNT'],
    ];
    const d = t.dispatcher;
    for (const argv of commands) {
      const direct = await run(d, argv);
      const wire = await exchange(t.port, frame(...argv), (data) => data.length >= direct.length);
      expect(wire.data.toString('latin1'), argv.join(' ')).toBe(direct);
    }
  });

  it('gates commands on AUTH and records the last command run', async () => {
    const d = t.dispatcher;
    const s = session({ authenticated: false });
    expect(await run(d, ['KEYCOUNT', ''], s)).toBe('-NOAUTH Authentication required.\r\n');
    expect(s.lastCommand).toBe('NULL');
    s.authenticated = true;
    expect(await run(d, ['KEYCOUNT', ''], s)).toBe(':0\r\n');
    expect(s.lastCommand).toBe('keycount');
  });
});

describe('failures', () => {
  const logged: string[] = [];
  const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _enc, done) => (logged.push(String(chunk)), done()) }));
  const later = gate();
  const spec = (name: string, handler: CommandSpec['handler']): CommandSpec => ({
    name, arity: 1, flags: [], group: 'test', since: '0.1.0', summary: name, arguments: [], reply: 'test', handler,
  });
  const registry = new CommandRegistry().register(
    spec('HALFWAY', ({ reply }) => {
      reply.array(2);
      reply.bulk('one');
      throw new CrissError('WRONGTYPE', 'no second item');
    }),
    spec('LEAKS', async ({ reply }) => {
      reply.array(2);
      await later.promise;
      throw new Error('gone wrong after the header left');
    }),
    spec('BOOM', async () => {
      throw new Error('boom');
    }),
    spec('SILENT', async () => undefined),
  );
  const d = new Dispatcher(registry, logger);

  it('takes back a partial reply and answers with the error', async () => {
    expect(await run(d, ['HALFWAY'])).toBe('-WRONGTYPE no second item\r\n');
    expect(await run(d, ['BOOM'])).toBe('-ERR internal error\r\n');
    expect(await run(d, ['SILENT'])).toBe('-ERR internal error\r\n');
    expect(logged.some((l) => l.includes('"command":"boom"'))).toBe(true);
    expect(logged.some((l) => l.includes('"command":"silent"') && l.includes('wrote no reply'))).toBe(true);
  });

  it('drops a client whose partial reply already left, and writes nothing for a client that is gone', async () => {
    const out = new Collected();
    const s = session();
    const running = d.dispatch([Buffer.from('LEAKS')], s, out.reply);
    expect(running?.blocking).toBe(false);
    expect(out.take()).toBe('*2\r\n');
    later.open();
    await running?.done;
    expect(s.dropped).toBe(true);
    expect(out.take()).toBe('');
    expect(logged.some((l) => l.includes('command failed mid-reply'))).toBe(true);

    const gone = session({ connected: false });
    const quiet = new Collected();
    await d.dispatch([Buffer.from('BOOM')], gone, quiet.reply)?.done;
    expect(quiet.take()).toBe('');
    expect(gone.dropped).toBe(false);
  });
});
