import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, type TestDaemon } from '../harness/daemon.ts';
import { cli } from '../harness/run.ts';

let open: TestDaemon;
let locked: TestDaemon;
let tree: string;

beforeAll(async () => {
  [open, locked] = await Promise.all([startDaemon(), startDaemon({ args: ['--password', 's3cret'] })]);
  tree = (await open.redis().call('PUTMULTIBIN', '', '-1', 'hello', 'world')) as string;
  await locked.redis({ password: 's3cret' }).call('PUTMULTIBIN', '', '-1', 'hello', 'world');
});
afterAll(cleanupDaemons);

/** No CRISSCROSS_* variables reach the CLI (cleanEnv), so only the flags can find these daemons. */
describe('connection options before or after the subcommand, as with redis-cli', { timeout: 60_000, concurrent: true }, () => {
  it.each([
    ['before', (port: string) => ['-p', port, 'get', tree, 'hello']],
    ['after', (port: string) => ['get', tree, 'hello', '-p', port]],
    ['long, before', (port: string) => ['--host', '127.0.0.1', '--port', port, 'get', tree, 'hello']],
    ['split around it', (port: string) => ['--host', '127.0.0.1', 'get', tree, 'hello', '--port', port]],
  ])('%s', async (_name, args) => {
    const r = await cli(args(String(open.port)));
    expect(r.stderr).toBe('');
    expect([r.code, r.stdout.toString()]).toEqual([0, 'world']);
  });

  it('a flag after the subcommand wins over the same flag before it', async () => {
    const r = await cli(['-p', '1', 'get', tree, 'hello', '-p', String(open.port)]);
    expect([r.code, r.stdout.toString()]).toEqual([0, 'world']);
  });

  it('the password goes before or after the subcommand too', async () => {
    const port = String(locked.port);
    expect((await cli(['-p', port, '-a', 's3cret', 'get', tree, 'hello'])).stdout.toString()).toBe('world');
    expect((await cli(['-a', 's3cret', 'get', tree, 'hello', '-p', port])).stdout.toString()).toBe('world');
    const wrong = await cli(['-a', 'nope', 'get', tree, 'hello', '-p', port]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('refused the password');
  });
});
