import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.ts';
import { cli } from '../harness/run.ts';

const SUBCOMMANDS = [
  'serve', 'put', 'get', 'delete', 'has_key', 'bytes_written', 'diff', 'range',
  'upload', 'cat', 'download', 'upload_dir', 'ls', 'download_dir', 'persist', 'gc', 'compact',
  'var_set', 'var_get', 'var_delete', 'info',
];

/** A loopback port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('crisscross --help and usage errors', { timeout: 60_000, concurrent: true }, () => {
  it('lists every subcommand, the id syntax and the exit codes', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    for (const name of SUBCOMMANDS) expect(text).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(text).toContain('*file.yaml#Field');
    expect(text).toContain('^name');
    expect(text).toMatch(/^Exit codes:\n {2}0 {2}success\n {2}1 {2}no: .+\n {2}2 {2}usage error .+\n {2}3 {2}the daemon replied with an error.+\n {2}4 {2}the daemon could not be reached/m);
  });

  it.each(SUBCOMMANDS)('%s --help shows usage and examples', async (name) => {
    const r = await cli([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(new RegExp(`^Usage: crisscross ${name} `));
    expect(r.stdout.toString()).toContain('Examples:\n  $ crisscross ');
  });

  it('serve --help names every flag, variable and default', async () => {
    const text = (await cli(['serve', '--help'])).stdout.toString().replace(/\s+/g, ' ');
    for (const s of Object.values(SETTINGS)) {
      expect(text).toContain(`--${s.flag} `);
      expect(text).toContain(`env ${s.env}`);
      if (s.default !== undefined) expect(text).toContain(`default ${s.default}`);
    }
  });

  it('client commands name the connection variables', async () => {
    const text = (await cli(['get', '--help'])).stdout.toString().replace(/\s+/g, ' ');
    expect(text).toContain('env CRISSCROSS_HOST, default 127.0.0.1');
    expect(text).toContain('env CRISSCROSS_PORT, default 11111');
    expect(text).toContain('env CRISSCROSS_PASSWORD');
  });

  it('prints the version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it.each([
    [[], /Usage: crisscross/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['get', 'tree'], /missing required argument 'key'/],
    [['put', 'tree', 'k', 'v', 'k2'], /"k2" has no value/],
    [['put', 'tree', 'k', 'v', '--ttl', 'soon'], /--ttl <ms>' argument 'soon' is invalid/],
    [['put', 'tree', 'k', 'v', '--ttl', '-2'], /is invalid/],
    [['range', 'tree', '--count', '0'], /is invalid/],
    [['get', 'tree', 'k', '--port', 'http'], /invalid value "http" for --port/],
    [['-p', 'http', 'get', 'tree', 'k'], /invalid value "http" for --port/],
    [['--port', 'http', 'serve'], /invalid value "http" for --port/],
    [['get', '*does-not-exist.yaml#Root', 'k'], /cannot read .*does-not-exist\.yaml/],
    [['serve', '--log-level', 'loud'], /invalid value "loud" for --log-level/],
    [['upload', '/does/not/exist'], /cannot read \/does\/not\/exist: ENOENT/],
    [['upload', '/tmp'], /\/tmp is not a regular file \(use upload_dir for a directory\)/],
    [['upload', '/dev/null'], /\/dev\/null is not a regular file/],
    [['upload', 'f', '--ttl', 'forever'], /is invalid/],
    [['upload_dir', '/does/not/exist'], /cannot read \/does\/not\/exist: ENOENT/],
    [['upload_dir', '/dev/null'], /\/dev\/null is a device, not a directory/],
    [['download_dir', 'id', '/tmp'], /\/tmp already exists: download_dir creates the target/],
    [['persist', 'tree', '--ttl', '-5'], /is invalid/],
  ])('exits 2 on the usage error %j, before contacting any daemon', async (args, message) => {
    const r = await cli(args, { env: { CRISSCROSS_PORT: String(await closedPort()) } });
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stdout.length).toBe(0);
  });

  it('exits 2 on a bad setting from the environment, naming the variable', async () => {
    const r = await cli(['serve'], { env: { CRISSCROSS_PORT: '70000' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid value "70000" for CRISSCROSS_PORT');
  });

  it('exits 4 at once with a clear message when no daemon is running', async () => {
    const port = await closedPort();
    const started = Date.now();
    const r = await cli(['get', 'tree', 'k', '--port', String(port)]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`cannot reach the crisscross daemon at 127.0.0.1:${port} (connection refused)`);
    expect(r.stderr).toContain('crisscross serve');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
