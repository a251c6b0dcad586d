import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveClientConfig, resolveDaemonConfig, SETTINGS } from '../../src/config.ts';

const cwd = '/srv/app';
const BOOT = '/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWLS5GbiYTGqZHAcjDWpcKkqNtuNQTioggFaMfN1uA4MTs,/dns4/boot.example/tcp/4001/p2p/12D3KooWLS5GbiYTGqZHAcjDWpcKkqNtuNQTioggFaMfN1uA4MTs';

describe('daemon configuration', () => {
  it('uses the reference defaults', () => {
    expect(resolveDaemonConfig({}, {}, cwd)).toEqual({
      host: '127.0.0.1',
      port: 11111,
      dataDir: '/srv/app/data',
      clustersDir: '/srv/app/clusters',
      keysDir: '/srv/app/keys',
      logLevel: 'warn',
      gcGraceMs: 60000,
      gcIntervalMs: 600000,
      directIo: true,
      p2pHost: '127.0.0.1',
      p2pPort: 0,
      overlay: true,
      serveRate: 256 * 1024 * 1024,
      bootstrap: [],
    });
  });

  it('takes flags over environment over defaults', () => {
    const env = { CRISSCROSS_PORT: '7000', CRISSCROSS_DATA_DIR: '/var/cc', CRISSCROSS_LOG_LEVEL: 'info', CRISSCROSS_PASSWORD: 'env-pw' };
    const config = resolveDaemonConfig({ port: '7001', password: 'flag-pw' }, env, cwd);
    expect(config).toMatchObject({ port: 7001, dataDir: '/var/cc', logLevel: 'info', password: 'flag-pw', host: '127.0.0.1' });
  });

  it('reads every setting from its documented variable', () => {
    const numeric: Record<string, string> = { CRISSCROSS_PORT: '1234', CRISSCROSS_GC_GRACE_MS: '5000', CRISSCROSS_GC_INTERVAL_MS: '0', CRISSCROSS_P2P_PORT: '4001', CRISSCROSS_OVERLAY: 'off', CRISSCROSS_DIRECT_IO: 'off', CRISSCROSS_SERVE_RATE: '1000', CRISSCROSS_BOOTSTRAP: BOOT };
    const env = Object.fromEntries(Object.values(SETTINGS).map((s) => [s.env, numeric[s.env] ?? (s.env === 'CRISSCROSS_LOG_LEVEL' ? 'debug' : `v-${s.flag}`)]));
    expect(resolveDaemonConfig({}, env, cwd)).toEqual({
      host: 'v-host',
      port: 1234,
      dataDir: resolve(cwd, 'v-data-dir'),
      clustersDir: resolve(cwd, 'v-clusters-dir'),
      keysDir: resolve(cwd, 'v-keys-dir'),
      logLevel: 'debug',
      gcGraceMs: 5000,
      gcIntervalMs: 0,
      directIo: false,
      password: 'v-password',
      p2pHost: 'v-p2p-host',
      p2pPort: 4001,
      overlay: false,
      serveRate: 1000,
      bootstrap: BOOT.split(','),
    });
  });

  it('treats an empty variable as unset and an empty password as none', () => {
    expect(resolveDaemonConfig({}, { CRISSCROSS_PORT: '', CRISSCROSS_PASSWORD: '' }, cwd)).toMatchObject({ port: 11111 });
    expect(resolveDaemonConfig({ password: '' }, {}, cwd).password).toBeUndefined();
  });

  it('accepts port 0 (pick a free port) and log levels in any case', () => {
    expect(resolveDaemonConfig({ port: '0', logLevel: 'DEBUG' }, {}, cwd)).toMatchObject({ port: 0, logLevel: 'debug' });
  });

  it.each([
    [{ port: '65536' }, {}, /invalid value "65536" for --port: expected a port number from 0 to 65535/],
    [{ port: '-1' }, {}, /for --port/],
    [{ port: '80a' }, {}, /for --port/],
    [{}, { CRISSCROSS_PORT: 'http' }, /invalid value "http" for CRISSCROSS_PORT/],
    [{ logLevel: 'loud' }, {}, /for --log-level: expected one of fatal, error, warn, info, debug, trace, silent/],
    [{ host: ' ' }, {}, /for --host: expected a host name/],
    [{ dataDir: '' }, {}, /for --data-dir: expected a directory path/],
    [{ overlay: 'maybe' }, {}, /for --overlay: expected on or off/],
    [{ serveRate: '-1' }, {}, /for --serve-rate: expected bytes per second/],
    [{}, { CRISSCROSS_BOOTSTRAP: '/ip4/10.0.0.1/tcp/4001' }, /for CRISSCROSS_BOOTSTRAP: expected comma-separated multiaddrs/],
  ])('rejects %j %j with a message naming the source', (flags, env, message) => {
    expect(() => resolveDaemonConfig(flags, env, cwd)).toThrow(message);
  });
});

describe('client configuration', () => {
  it('finds the daemon through the same flags and variables', () => {
    expect(resolveClientConfig({}, {})).toEqual({ host: '127.0.0.1', port: 11111 });
    expect(resolveClientConfig({ host: 'box' }, { CRISSCROSS_PORT: '6000', CRISSCROSS_PASSWORD: 'pw' })).toEqual({ host: 'box', port: 6000, password: 'pw' });
  });

  it('refuses port 0, which no running daemon listens on', () => {
    expect(() => resolveClientConfig({ port: '0' }, {})).toThrow(/not 0/);
  });
});
