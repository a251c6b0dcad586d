import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, type TestDaemon } from '../harness/daemon.ts';
import { redisCli } from '../harness/run.ts';

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon();
});
afterAll(cleanupDaemons);

/** redis-cli's output with stdout not a terminal: one raw line per reply element. */
async function lines(args: string[], input?: string): Promise<string[]> {
  const r = await redisCli(d.port, args, input === undefined ? {} : { input });
  expect(r.code).toBe(0);
  return r.stdout.toString().split('\n').slice(0, -1);
}

describe('a redis-cli session (Debian redis-tools)', { timeout: 60_000 }, () => {
  it('pings', async () => {
    expect(await lines(['PING'])).toEqual(['PONG']);
  });

  it('pipes one command\'s id into the next', async () => {
    const [id] = await lines(['PUTMULTIBIN', '', '-1', 'a', '1', 'b', '2']);
    expect(await lines(['GETMULTIBIN', id!, 'a', 'missing', 'b'])).toEqual(['1', '', '2']);
    expect(await lines(['HASKEYBIN', id!, 'b'])).toEqual(['1']);
    expect(await lines(['FETCHBIN', id!, 'missing'])).toEqual(['']);
  });

  it('runs a script of commands from stdin on one connection', async () => {
    const out = await lines([], 'PING\nPUTMULTIBIN "" -1 "key with spaces" "value\\nwith newline"\nECHO done\n');
    expect(out[0]).toBe('PONG');
    expect(out.at(-1)).toBe('done');
    const id = out[1]!;
    expect(await lines(['FETCHBIN', id, 'key with spaces'])).toEqual(['value', 'with newline']);
  });

  it('shows Redis-style errors', async () => {
    expect((await lines(['NOSUCHCOMMAND', 'x']))[0]).toMatch(/^ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x'/);
    expect((await lines(['FETCHBIN', 'x']))[0]).toMatch(/^ERR wrong number of arguments for 'fetchbin' command/);
  });

  it('reports INFO with the server section redis-cli expects', async () => {
    expect((await lines(['INFO', 'server'])).join('\n')).toMatch(/redis_version:/);
  });
});
