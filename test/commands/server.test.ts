import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serverCommands } from '../../src/commands/server.ts';
import { exchange, frame, openedThings, parseAll, silent, startServer, type TestServer } from '../resp/helpers.ts';

let open: TestServer;
let locked: TestServer;
const clients: Redis[] = [];

beforeAll(async () => {
  const store = { section: 'store', fields: (): Array<[string, string | number]> => [['blocks', 42], ['state', 'ok']] };
  open = await startServer({ info: [store] });
  locked = await startServer({ password: 'hunter2' });
});

afterAll(async () => {
  await open.close();
  await locked.close();
});

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

async function ioredis(port: number, options: RedisOptions = {}): Promise<Redis> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...options });
  clients.push(r);
  await r.connect();
  return r;
}

/** Sends `input` on a fresh raw connection and returns the first `count` parsed replies. */
async function replies(port: number, input: Buffer, count: number): Promise<ReturnType<typeof parseAll>> {
  const { data } = await exchange(port, input, (d) => parseAll(d).length >= count);
  return parseAll(data);
}

describe('with ioredis (RESP2)', () => {
  it('passes the ready check and answers PING and ECHO', async () => {
    const redis = await ioredis(open.port);
    expect(redis.status).toBe('ready');
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.ping('hello')).toBe('hello');
    const binary = Buffer.from([0, 1, 2, 255, 13, 10]);
    expect(await redis.echoBuffer(binary)).toEqual(binary);
  });

  it('records the connection name and library info ioredis sends', async () => {
    const redis = await ioredis(open.port, { connectionName: 'worker-1' });
    expect(await redis.client('GETNAME')).toBe('worker-1');
    const id = (await redis.client('ID')) as number;
    expect(id).toBeGreaterThan(0);
    const info = (await redis.client('INFO')) as string;
    expect(info).toMatch(new RegExp(`^id=${id} addr=127\\.0\\.0\\.1:\\d+ laddr=127\\.0\\.0\\.1:${open.port} name=worker-1 `));
    expect(info).toContain('lib-name=ioredis ');
    expect(info).toMatch(/lib-ver=\d+\.\d+\.\d+\n$/);
    expect(info).toContain('cmd=client|info ');
    const list = (await redis.client('LIST')) as string;
    expect(list.split('\n').filter((l) => l.includes('name=worker-1 '))).toHaveLength(1);
    expect(await redis.call('CLIENT', 'LIST', 'ID', String(id))).toBe(info.replace('cmd=client|info', 'cmd=client|list'));
    expect(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')).toBe('');
    await expect(redis.call('CLIENT', 'LIST', 'ID', 'x')).rejects.toThrow('ERR Invalid client ID');
    await expect(redis.call('CLIENT', 'LIST', 'TYPE', 'odd')).rejects.toThrow("ERR Unknown client type 'odd'");
  });

  it('validates CLIENT SETNAME and SETINFO like Redis', async () => {
    const redis = await ioredis(open.port);
    await expect(redis.client('SETNAME', 'a b')).rejects.toThrow('ERR Client names cannot contain spaces, newlines or special characters.');
    expect(await redis.client('SETNAME', 'x')).toBe('OK');
    expect(await redis.client('SETNAME', '')).toBe('OK');
    expect(await redis.client('GETNAME')).toBeNull();
    await expect(redis.call('CLIENT', 'SETINFO', 'LIB-FOO', 'x')).rejects.toThrow("ERR Unrecognized option 'LIB-FOO'");
    await expect(redis.call('CLIENT', 'SETINFO', 'LIB-NAME', 'a b')).rejects.toThrow('ERR lib-name cannot contain spaces');
    await expect(redis.call('CLIENT', 'NOPE')).rejects.toThrow("ERR unknown subcommand 'NOPE'. Try CLIENT HELP.");
    await expect(redis.call('CLIENT', 'SETNAME')).rejects.toThrow("ERR wrong number of arguments for 'client|setname' command");
    const help = (await redis.call('CLIENT', 'HELP')) as string[];
    expect(help[0]).toMatch(/^CLIENT <subcommand>/);
  });

  it('answers INFO by section, including sections other layers add', async () => {
    const redis = await ioredis(open.port);
    const all = await redis.info();
    expect(all).toMatch(/^# Server\r\nredis_version:7\.0\.0\r\ncrisscross_version:0\.1\.0-test\r\n/);
    for (const field of ['loading:0', `tcp_port:${open.port}`, 'uptime_in_seconds:', 'connected_clients:', 'used_memory:', 'used_memory_rss:', 'total_commands_processed:']) {
      expect(all).toContain(`\r\n${field}`);
    }
    expect(all).toContain('\r\n\r\n# Store\r\nblocks:42\r\nstate:ok\r\n');
    expect(await redis.info('CLIENTS')).toMatch(/^# Clients\r\nconnected_clients:\d+\r\nblocked_clients:0\r\n$/);
    const two = await redis.info('store', 'memory');
    expect(two.match(/^# \w+/gm)).toEqual(['# Memory', '# Store']);
    expect(await redis.info('nosuchsection')).toBe('');
  });

  it('answers HELLO as a flat array in RESP2 and refuses protocol 4', async () => {
    const redis = await ioredis(open.port);
    const hello = (await redis.call('HELLO')) as unknown[];
    expect(hello).toHaveLength(14);
    expect(hello).toEqual(['server', 'redis', 'version', '7.0.0', 'proto', 2, 'id', expect.any(Number), 'mode', 'standalone', 'role', 'master', 'modules', []]);
    await expect(redis.call('HELLO', '4')).rejects.toThrow('NOPROTO unsupported protocol version');
    expect(await redis.ping()).toBe('PONG');
  });

  it('accepts SELECT 0 only', async () => {
    const redis = await ioredis(open.port);
    expect(await redis.select(0)).toBe('OK');
    await expect(redis.select(1)).rejects.toThrow('ERR DB index is out of range');
    await expect(redis.call('SELECT', 'x')).rejects.toThrow('ERR value is not an integer or out of range');
  });

  it('answers AUTH without a password the way Redis does', async () => {
    const redis = await ioredis(open.port);
    await expect(redis.auth('x')).rejects.toThrow(
      'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    );
    expect(await redis.call('AUTH', 'default', 'anything')).toBe('OK');
    await expect(redis.call('AUTH', 'alice', 'x')).rejects.toThrow('WRONGPASS invalid username-password pair or user is disabled.');
  });

  it('QUIT replies OK and closes', async () => {
    const redis = await ioredis(open.port);
    expect(await redis.quit()).toBe('OK');
  });
});

describe('with a password', () => {
  it('ioredis authenticates, then passes the ready check', async () => {
    const redis = await ioredis(locked.port, { password: 'hunter2' });
    expect(await redis.ping()).toBe('PONG');
  });

  it('ioredis with the wrong password fails', async () => {
    const redis = new Redis({ port: locked.port, host: '127.0.0.1', lazyConnect: true, password: 'nope', maxRetriesPerRequest: 0, retryStrategy: () => null });
    clients.push(redis);
    const errors: Error[] = [];
    redis.on('error', (e: Error) => errors.push(e));
    await expect(redis.connect().then(() => redis.ping())).rejects.toThrow();
    expect(errors.map((e) => e.message)).toContain('WRONGPASS invalid username-password pair or user is disabled.');
  });

  it('refuses commands until AUTH, then RESET forgets it', async () => {
    const got = await replies(
      locked.port,
      Buffer.concat([frame('PING'), frame('AUTH', 'nope'), frame('AUTH', 'hunter2'), frame('PING'), frame('RESET'), frame('PING'), frame('AUTH', 'default', 'hunter2'), frame('PING')]),
      8,
    );
    expect(got).toEqual([
      { error: 'NOAUTH Authentication required.' },
      { error: 'WRONGPASS invalid username-password pair or user is disabled.' },
      'OK',
      'PONG',
      'RESET',
      { error: 'NOAUTH Authentication required.' },
      'OK',
      'PONG',
    ]);
  });

  it('HELLO AUTH authenticates and switches protocol in one step', async () => {
    const got = await replies(locked.port, Buffer.concat([frame('HELLO', '3'), frame('HELLO', '3', 'AUTH', 'default', 'hunter2', 'SETNAME', 'h3'), frame('CLIENT', 'GETNAME')]), 3);
    expect(got[0]).toEqual({ error: expect.stringMatching(/^NOAUTH HELLO must be called with the client already authenticated/) });
    const map = got[1] as Map<string, unknown>;
    expect(map.get('proto')).toBe(3);
    expect(Buffer.from(got[2] as Buffer).toString()).toBe('h3');
  });
});

describe('RESP3 after HELLO 3 (raw socket)', () => {
  it('answers HELLO 3 with a map and later replies in RESP3', async () => {
    const input = Buffer.concat([frame('HELLO', '3'), frame('CLIENT', 'GETNAME'), frame('INFO', 'clients'), frame('COMMAND', 'DOCS', 'echo'), frame('HELLO', '2'), frame('CLIENT', 'GETNAME')]);
    const { data } = await exchange(open.port, input, (d) => parseAll(d).length >= 6);
    const all = parseAll(data);
    const text = data.toString('latin1');
    expect(text.startsWith('%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:')).toBe(true);
    expect(text).toContain('\r\n_\r\n=');
    expect(all[1]).toBeNull();
    expect(all[2]).toEqual({ verbatim: expect.stringMatching(/^# Clients\r\nconnected_clients:\d+/) });
    const docs = all[3] as Map<string, Map<string, unknown>>;
    expect([...docs.keys()]).toEqual(['echo']);
    expect([...docs.get('echo')!.keys()]).toEqual(['summary', 'since', 'group', 'reply', 'arguments']);
    expect(Array.isArray(all[4])).toBe(true);
    expect(text.endsWith('$-1\r\n')).toBe(true);
  });

  it('RESET returns to RESP2, clears the name and closes per-connection state', async () => {
    const got = await replies(open.port, Buffer.concat([frame('HELLO', '3', 'SETNAME', 'n'), frame('OPENTHING'), frame('RESET'), frame('CLIENT', 'GETNAME')]), 4);
    expect(got.slice(1)).toEqual(['OK', 'RESET', null]);
    expect(openedThings.at(-1)!.closed).toBe(true);
  });
});

describe('COMMAND', () => {
  it('counts, lists and describes the registered commands', async () => {
    const redis = await ioredis(open.port);
    const count = (await redis.call('COMMAND', 'COUNT')) as number;
    expect(count).toBe(open.registry.size);
    const all = (await redis.call('COMMAND')) as unknown[][];
    expect(all).toHaveLength(count);
    const list = (await redis.call('COMMAND', 'LIST')) as string[];
    expect(list).toEqual(expect.arrayContaining(['ping', 'client', 'client|setname', 'command|docs', 'laterecho']));
    const [ping, missing, setname] = (await redis.call('COMMAND', 'INFO', 'ping', 'nosuch', 'client|setname')) as unknown[][];
    expect(ping).toEqual(['ping', -1, ['fast'], 0, 0, 0, ['@fast', '@connection'], [], [], []]);
    expect(missing).toBeNull();
    expect(setname.slice(0, 2)).toEqual(['client|setname', 3]);
    const help = (await redis.call('COMMAND', 'HELP')) as string[];
    expect(help[0]).toMatch(/^COMMAND <subcommand>/);
  });

  it('COMMAND DOCS has the shape redis-cli needs: bulk keys, argument maps, subcommand maps', async () => {
    const redis = await ioredis(open.port);
    const docs = (await redis.call('COMMAND', 'DOCS', 'client', 'hello')) as unknown[];
    expect(docs[0]).toBe('client');
    const client = docs[1] as unknown[];
    expect(client.slice(0, 6)).toEqual(['summary', 'A container for client connection commands.', 'since', '0.1.0', 'group', 'connection']);
    const subs = client[client.indexOf('subcommands') + 1] as unknown[];
    expect(subs.filter((_, i) => i % 2 === 0)).toEqual(['client|getname', 'client|help', 'client|id', 'client|info', 'client|kill', 'client|list', 'client|setinfo', 'client|setname', 'client|unblock']);
    const hello = docs[3] as unknown[];
    const args = hello[hello.indexOf('arguments') + 1] as unknown[][];
    expect(args[0]).toEqual([
      'name',
      'arguments',
      'type',
      'block',
      'flags',
      ['optional'],
      'arguments',
      [
        ['name', 'protover', 'type', 'integer'],
        ['name', 'username-password', 'type', 'block', 'token', 'AUTH', 'flags', ['optional'], 'arguments', [['name', 'username', 'type', 'string'], ['name', 'password', 'type', 'string']]],
        ['name', 'clientname', 'type', 'string', 'token', 'SETNAME', 'flags', ['optional']],
      ],
    ]);
  });
});

describe('serverCommands specs', () => {
  it('document every command and subcommand', () => {
    const specs = serverCommands({ registry: open.registry, logger: silent, version: '0' });
    const flat = specs.flatMap((s) => [s, ...(s.subcommands ?? [])]);
    expect(flat.map((s) => s.name)).toEqual(expect.arrayContaining(['PING', 'ECHO', 'QUIT', 'HELLO', 'AUTH', 'SELECT', 'RESET', 'INFO', 'CLIENT|SETINFO', 'COMMAND|DOCS']));
    for (const s of flat) {
      expect(s.summary, s.name).toMatch(/\S/);
      expect(s.reply, s.name).toMatch(/\S/);
      expect(s.since, s.name).toBe('0.1.0');
      expect(['connection', 'server'], s.name).toContain(s.group);
    }
    const noauth = flat.filter((s) => s.flags.includes('noauth')).map((s) => s.name);
    expect(noauth.sort()).toEqual(['AUTH', 'HELLO', 'QUIT', 'RESET']);
  });
});
