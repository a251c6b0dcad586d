import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dispatcher } from '../../src/commands/dispatch.ts';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { serverCommands } from '../../src/commands/server.ts';
import { RespServer } from '../../src/resp/server.ts';
import { silent, startServer, type TestServer } from './helpers.ts';

const REDIS_CLI = '/usr/bin/redis-cli';
const SCRIPT = '/usr/bin/script';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

function run(command: string, args: string[], input = '', env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout }));
    child.stdin.end(input);
  });
}

const cli = (port: number, ...args: string[]): Promise<Run> => run(REDIS_CLI, ['-p', String(port), ...args]);

/**
 * redis-cli in interactive mode, on a pseudo-terminal (so it fetches COMMAND DOCS for its hints)
 * with TERM=dumb so its line editor does not wait for answers to terminal escape queries.
 */
const interactive = (port: number, lines: string[], ...args: string[]): Promise<Run> =>
  run(SCRIPT, ['-qec', [REDIS_CLI, '-p', String(port), ...args].join(' '), '/dev/null'], `${lines.join('\n')}\n`, { ...process.env, TERM: 'dumb' });

describe.skipIf(!existsSync(REDIS_CLI))('redis-cli against the server', () => {
  let s: TestServer;
  let locked: TestServer;

  beforeAll(async () => {
    s = await startServer();
    locked = await startServer({ password: 'pw' });
  });

  afterAll(async () => {
    await s.close();
    await locked.close();
  });

  it('runs one-shot commands', async () => {
    expect(await cli(s.port, 'PING')).toEqual({ code: 0, signal: null, stdout: 'PONG\n' });
    expect((await cli(s.port, 'ECHO', 'hello world')).stdout).toBe('hello world\n');
    expect((await cli(s.port, 'INFO', 'server')).stdout).toContain('redis_version:7.0.0');
    expect((await cli(s.port, 'CLIENT', 'LIST')).stdout).toMatch(/^id=\d+ addr=127\.0\.0\.1:\d+ .*cmd=client\|list .*resp=2/);
    // Without a terminal, redis-cli prints an error reply followed by an empty line.
    expect((await cli(s.port, 'NOSUCH', 'a')).stdout).toBe("ERR unknown command 'NOSUCH', with args beginning with: 'a' \n\n");
  });

  it('prints COMMAND DOCS without aborting, in RESP2 and RESP3', async () => {
    const two = await cli(s.port, 'COMMAND', 'DOCS');
    expect(two.code).toBe(0);
    expect(two.stdout).toContain('client|setname');
    expect(two.stdout).toContain('Returns the given string.');
    const three = await cli(s.port, '-3', 'COMMAND', 'DOCS', 'hello');
    expect(three.code).toBe(0);
    expect(three.stdout).toContain('token AUTH');
  });

  it('speaks RESP3 with -3 (HELLO 3 on connect)', async () => {
    const r = await cli(s.port, '-3', 'HELLO', '3');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/server redis\nversion 7\.0\.0\nproto 3\nid \d+\nmode standalone\nrole master\nmodules \n/);
    expect((await cli(s.port, '-3', 'CLIENT', 'GETNAME')).stdout).toBe('\n');
  });

  it('reads commands from stdin', async () => {
    const r = await run(REDIS_CLI, ['-p', String(s.port)], 'PING\nECHO "a b"\nSELECT 0\n');
    expect(r).toEqual({ code: 0, signal: null, stdout: 'PONG\na b\nOK\n' });
  });

  it('authenticates with -a', async () => {
    expect((await cli(locked.port, 'PING')).stdout).toBe('NOAUTH Authentication required.\n\n');
    expect((await cli(locked.port, '--no-auth-warning', '-a', 'pw', 'PING')).stdout).toBe('PONG\n');
    expect((await cli(locked.port, '--no-auth-warning', '-a', 'bad', 'PING')).stdout).toContain('WRONGPASS');
  });

  describe.skipIf(!existsSync(SCRIPT))('interactive', () => {
    it('loads its hints from COMMAND DOCS and runs a session', async () => {
      const r = await interactive(s.port, ['PING', 'CLIENT SETNAME cli', 'CLIENT GETNAME', 'quit']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('> PONG');
      expect(r.stdout).toContain('> "cli"');
    });

    it('does the same in RESP3', async () => {
      const r = await interactive(s.port, ['PING', 'HELLO', 'quit'], '-3');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('"proto" => (integer) 3');
    });

    it('would abort on a COMMAND DOCS reply with a non-bulk key (the check above is real)', async () => {
      const registry = new CommandRegistry();
      const broken = serverCommands({ registry, logger: silent, version: '0' }).map((spec) =>
        spec.name !== 'COMMAND'
          ? spec
          : {
              ...spec,
              subcommands: spec.subcommands!.map((sub) =>
                sub.name !== 'COMMAND|DOCS'
                  ? sub
                  : {
                      ...sub,
                      handler: ({ reply }: Parameters<typeof sub.handler>[0]) => {
                        reply.map(1);
                        reply.simple('ping');
                        reply.map(0);
                      },
                    },
              ),
            },
      );
      registry.register(...broken);
      const server = new RespServer({ host: '127.0.0.1', port: 0, dispatcher: new Dispatcher(registry, silent), logger: silent });
      const { port } = await server.listen();
      try {
        const r = await interactive(port, ['PING', 'quit']);
        expect(r.code).not.toBe(0);
      } finally {
        await server.close();
      }
    });
  });
});
