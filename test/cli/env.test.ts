import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, tempDir } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';

afterEach(cleanupDaemons);

describe('configuration through the environment', { timeout: 60_000 }, () => {
  it('serve takes every setting from CRISSCROSS_* variables and creates its directories', async () => {
    const dir = await tempDir();
    const d = await startDaemon({
      env: {
        CRISSCROSS_HOST: '127.0.0.1',
        CRISSCROSS_PORT: '0',
        CRISSCROSS_DATA_DIR: join(dir, 'd'),
        CRISSCROSS_CLUSTERS_DIR: join(dir, 'c'),
        CRISSCROSS_KEYS_DIR: join(dir, 'k'),
        CRISSCROSS_LOG_LEVEL: 'info',
      },
    });
    expect(d.stdout()).toMatch(new RegExp(`^crisscross \\d+\\.\\d+\\.\\d+\\S* listening on redis://127\\.0\\.0\\.1:${d.port} \\(data ${join(dir, 'd')}\\)\\n`));
    expect((await stat(join(dir, 'c'))).isDirectory()).toBe(true);
    expect((await stat(join(dir, 'k'))).mode & 0o777).toBe(0o700);
    // --log-level info reached pino: a JSON log line on stderr, stdout kept for the ready line.
    expect(d.stderr()).toMatch(/"msg":"ready"/);
  });

  it('is quiet at the default log level', async () => {
    const d = await startDaemon();
    expect(await d.redis().ping()).toBe('PONG');
    expect(d.stderr()).toBe('');
    expect(d.stdout().split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('client commands find the daemon through CRISSCROSS_HOST/PORT', async () => {
    const d = await startDaemon();
    const r = await cli(['info', 'server'], { env: daemonEnv(d) });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('# Server');
  });

  it('a password from the environment protects the daemon; clients pass it by flag or variable', async () => {
    const d = await startDaemon({ env: { CRISSCROSS_PASSWORD: 's3cret' } });
    const without = await cli(['info', 'server'], { env: daemonEnv(d) });
    expect(without.code).toBe(4);
    expect(without.stderr).toContain('requires a password');
    const wrong = await cli(['info', 'server', '-a', 'nope'], { env: daemonEnv(d) });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('refused the password');
    expect((await cli(['info', 'server', '-a', 's3cret'], { env: daemonEnv(d) })).code).toBe(0);
    expect((await cli(['info', 'server'], { env: { ...daemonEnv(d), CRISSCROSS_PASSWORD: 's3cret' } })).code).toBe(0);
  });

  it('serve exits 3 with a clear message when the port is taken', async () => {
    const d = await startDaemon();
    const dir = await tempDir();
    const r = await cli(['serve', '--port', String(d.port), '--data-dir', join(dir, 'data'), '--clusters-dir', join(dir, 'c'), '--keys-dir', join(dir, 'k')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot start: .*(EADDRINUSE|in use)/);
  });
});
