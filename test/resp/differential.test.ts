import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, frame, startServer, type TestServer } from './helpers.ts';
import { MALFORMED_CASES, PASSWORD, runCase } from './malformed-cases.ts';

/**
 * The same bytes sent to a real redis-server and to our server must get the same replies and
 * the same close behaviour. Redis is the oracle; cases where we deliberately differ are marked
 * in the shared table and skipped here.
 */
const REDIS_SERVER = '/usr/bin/redis-server';
const available = existsSync(REDIS_SERVER);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startRedis(args: string[]): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return { port, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

describe.skipIf(!available)('differential against redis-server', () => {
  let redis: { port: number; child: ChildProcess };
  let redisLocked: { port: number; child: ChildProcess };
  let ours: TestServer;
  let oursLocked: TestServer;

  beforeAll(async () => {
    [redis, redisLocked, ours, oursLocked] = await Promise.all([
      startRedis([]),
      startRedis(['--requirepass', PASSWORD]),
      startServer(),
      startServer({ password: PASSWORD }),
    ]);
  });

  afterAll(async () => {
    for (const r of [redis, redisLocked]) {
      if (r === undefined) continue;
      const exited = new Promise((resolve) => r.child.once('exit', resolve));
      r.child.kill('SIGTERM');
      await exited;
    }
    await ours?.close();
    await oursLocked?.close();
  });

  for (const c of MALFORMED_CASES.filter((c) => !c.differsFromRedis)) {
    it(`malformed: ${c.name}`, async () => {
      const [theirs, mine] = await Promise.all([
        runCase(c.password ? redisLocked.port : redis.port, c),
        runCase(c.password ? oursLocked.port : ours.port, c),
      ]);
      expect(mine.data.toString('latin1')).toBe(theirs.data.toString('latin1'));
      expect(mine.closed).toBe(theirs.closed);
    });
  }

  // Commands whose replies do not depend on the server's identity or state.
  const commands: Array<[string, Buffer]> = [
    ['unknown command with args', Buffer.from('foo a b\r\n')],
    ['unknown command, long args cut at 128 bytes', Buffer.from(`foo ${'a '.repeat(40)}${'b'.repeat(200)}\r\n`)],
    ['unknown command with no args', frame('nosuchcommand')],
    ['wrong arity, lower-cased name', frame('PING', 'a', 'b')],
    ['wrong arity of a subcommand', frame('CLIENT', 'SETNAME')],
    ['unknown subcommand', frame('client', 'bar')],
    ['container without subcommand', frame('CLIENT')],
    ['ECHO binary', frame('ECHO', Buffer.from([0, 255, 13, 10]))],
    ['PING message', frame('PING', 'hello')],
    ['inline quoting', Buffer.from('ECHO "a\\x41\\n" \r\nECHO \'it\\\'s\'\r\n')],
    ['AUTH without a configured password', frame('AUTH', 'x')],
    ['AUTH default with anything', frame('AUTH', 'default', 'x')],
    ['AUTH unknown user', frame('AUTH', 'bob', 'x')],
    ['AUTH syntax', frame('AUTH', 'a', 'b', 'c')],
    ['HELLO 4', frame('HELLO', '4')],
    ['HELLO not an integer', frame('HELLO', 'x')],
    ['HELLO bad option', frame('HELLO', '3', 'foo')],
    ['HELLO bad name', frame('HELLO', '2', 'SETNAME', 'a b')],
    ['SELECT 0', frame('SELECT', '0')],
    ['SELECT not an integer', frame('SELECT', 'x')],
    ['SELECT negative', frame('SELECT', '-1')],
    ['CLIENT SETNAME and GETNAME', Buffer.concat([frame('CLIENT', 'SETNAME', 'me'), frame('CLIENT', 'GETNAME'), frame('CLIENT', 'SETNAME', ''), frame('CLIENT', 'GETNAME')])],
    ['CLIENT SETNAME with a space', frame('CLIENT', 'SETNAME', 'a b')],
    ['RESET', Buffer.concat([frame('CLIENT', 'SETNAME', 'me'), frame('RESET'), frame('CLIENT', 'GETNAME')])],
    ['CLIENT UNBLOCK of no blocked client, and its errors', Buffer.concat([frame('CLIENT', 'UNBLOCK', '999999'), frame('CLIENT', 'UNBLOCK', 'abc'), frame('CLIENT', 'UNBLOCK', '1', 'LATER'), frame('CLIENT', 'UNBLOCK', '1', 'TIMEOUT', 'x')])],
    ['CLIENT KILL errors', Buffer.concat([frame('CLIENT', 'KILL', '1.2.3.4:5'), frame('CLIENT', 'KILL', 'ID', '0'), frame('CLIENT', 'KILL', 'FOO', 'bar'), frame('CLIENT', 'KILL', 'ID', '1', 'SKIPME'), frame('CLIENT', 'KILL', 'USER', 'nobody'), frame('CLIENT', 'KILL', 'MAXAGE', 'x'), frame('CLIENT', 'KILL', 'SKIPME', 'maybe'), frame('CLIENT', 'KILL', 'ID', '999999')])],
    ['COMMAND DOCS of an unknown command', frame('COMMAND', 'DOCS', 'nosuchcommand')],
    ['COMMAND INFO of an unknown command', frame('COMMAND', 'INFO', 'nosuchcommand')],
  ];
  for (const [name, input] of commands) {
    it(`command: ${name}`, async () => {
      const done = (d: Buffer): boolean => d.includes('sentinel-end');
      const tail = frame('ECHO', 'sentinel-end');
      const [theirs, mine] = await Promise.all([
        exchange(redis.port, Buffer.concat([input, tail]), done),
        exchange(ours.port, Buffer.concat([input, tail]), done),
      ]);
      expect(mine.data.toString('latin1')).toBe(theirs.data.toString('latin1'));
    });
  }

  const locked: Array<[string, Buffer]> = [
    ['NOAUTH before AUTH', frame('PING')],
    ['unknown command is reported before NOAUTH', frame('foo', 'a')],
    ['arity is checked before NOAUTH', frame('ECHO')],
    ['wrong password', frame('AUTH', 'nope')],
    ['HELLO without AUTH', frame('HELLO', '3')],
    ['HELLO with a wrong AUTH', frame('HELLO', '3', 'AUTH', 'default', 'nope')],
    ['AUTH then RESET forgets it', Buffer.concat([frame('AUTH', PASSWORD), frame('RESET'), frame('PING')])],
  ];
  for (const [name, input] of locked) {
    it(`with a password: ${name}`, async () => {
      const done = (d: Buffer): boolean => d.includes('sentinel-end');
      const tail = Buffer.concat([frame('AUTH', PASSWORD), frame('ECHO', 'sentinel-end')]);
      const [theirs, mine] = await Promise.all([
        exchange(redisLocked.port, Buffer.concat([input, tail]), done),
        exchange(oursLocked.port, Buffer.concat([input, tail]), done),
      ]);
      expect(mine.data.toString('latin1')).toBe(theirs.data.toString('latin1'));
    });
  }
});
