import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CrissError } from './errors.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DaemonConfig {
  host: string;
  port: number;
  /** Absolute paths, resolved against the working directory at start. */
  dataDir: string;
  clustersDir: string;
  keysDir: string;
  logLevel: LogLevel;
  /** Roots handed out without a pin (TTL 0) are spared by garbage collection this long. */
  gcGraceMs: number;
  /** Pause between background garbage collections; 0: only on request (GC). */
  gcIntervalMs: number;
  /** Whether segment files bypass the page cache (O_DIRECT) where the file system allows it. */
  directIo: boolean;
  /** When set, clients must AUTH first. */
  password?: string;
  /** Where cluster nodes listen (libp2p over TCP). */
  p2pHost: string;
  /** Port of the default overlay; 0: one the OS picks on first start, then kept in the data dir. */
  p2pPort: number;
  /** Whether the default overlay (`^defaultcluster`) runs. */
  overlay: boolean;
  /** Bytes per second the block exchange sends any one peer (0: unlimited). */
  serveRate: number;
  /** Multiaddrs (with /p2p/<peer id>) of overlay nodes to dial at start. */
  bootstrap: string[];
}

/** What a client command needs to reach a running daemon. */
export interface ClientConfig {
  host: string;
  port: number;
  password?: string;
}

type Setting = keyof DaemonConfig;

export interface SettingDoc {
  /** Long flag without the dashes, e.g. `data-dir`. */
  flag: string;
  env: string;
  /** Shown in help; absent for settings with no default (the password). */
  default?: string;
  description: string;
}

/** One table drives resolution, `--help` and the README, so they cannot drift apart. */
export const SETTINGS: Record<Setting, SettingDoc> = {
  host: { flag: 'host', env: 'CRISSCROSS_HOST', default: '127.0.0.1', description: 'address the RESP server listens on' },
  port: { flag: 'port', env: 'CRISSCROSS_PORT', default: '11111', description: 'RESP port (0 picks a free one)' },
  dataDir: { flag: 'data-dir', env: 'CRISSCROSS_DATA_DIR', default: './data', description: 'where the block store lives' },
  clustersDir: { flag: 'clusters-dir', env: 'CRISSCROSS_CLUSTERS_DIR', default: './clusters', description: 'cluster definitions' },
  keysDir: { flag: 'keys-dir', env: 'CRISSCROSS_KEYS_DIR', default: './keys', description: 'key pairs (created mode 0700)' },
  logLevel: { flag: 'log-level', env: 'CRISSCROSS_LOG_LEVEL', default: 'warn', description: `log level: ${LOG_LEVELS.join(', ')}` },
  gcGraceMs: { flag: 'gc-grace-ms', env: 'CRISSCROSS_GC_GRACE_MS', default: '60000', description: 'ms a root written with TTL 0 survives garbage collection' },
  gcIntervalMs: { flag: 'gc-interval-ms', env: 'CRISSCROSS_GC_INTERVAL_MS', default: '600000', description: 'ms between background garbage collections (0: only GC)' },
  directIo: { flag: 'direct-io', env: 'CRISSCROSS_DIRECT_IO', default: 'on', description: 'write and read segment files around the page cache (O_DIRECT) where the file system allows it: on or off' },
  password: { flag: 'password', env: 'CRISSCROSS_PASSWORD', description: 'require AUTH with this password' },
  p2pHost: { flag: 'p2p-host', env: 'CRISSCROSS_P2P_HOST', default: '127.0.0.1', description: 'address cluster nodes listen on (libp2p, TCP)' },
  p2pPort: { flag: 'p2p-port', env: 'CRISSCROSS_P2P_PORT', default: '0', description: 'port of the default overlay (0: any free one, then kept in the data dir)' },
  overlay: { flag: 'overlay', env: 'CRISSCROSS_OVERLAY', default: 'on', description: 'run the default overlay ^defaultcluster (discovery and rendezvous of private clusters): on or off' },
  serveRate: { flag: 'serve-rate', env: 'CRISSCROSS_SERVE_RATE', default: '268435456', description: 'bytes per second the block exchange sends any one peer (0: unlimited); a peer over it waits' },
  bootstrap: { flag: 'bootstrap', env: 'CRISSCROSS_BOOTSTRAP', description: 'overlay nodes to dial at start: comma-separated multiaddrs with /p2p/<peer id> (none by default)' },
};

/** Values as given on the command line; absent means "not given". */
export type Flags = Partial<Record<Setting, string>>;
export type Env = Record<string, string | undefined>;

interface Raw {
  value: string;
  /** Where the value came from, so an error can say which flag or variable to fix. */
  source: string;
}

function pick(setting: Setting, flags: Flags, env: Env): Raw | undefined {
  const doc = SETTINGS[setting];
  const flag = flags[setting];
  if (flag !== undefined) return { value: flag, source: `--${doc.flag}` };
  // An empty variable is how shells and compose files say "unset".
  const fromEnv = env[doc.env];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: doc.env };
  if (doc.default !== undefined) return { value: doc.default, source: 'default' };
  return undefined;
}

function invalid(raw: Raw, expected: string): CrissError {
  return new CrissError('ERR', `invalid value "${raw.value}" for ${raw.source}: expected ${expected}`);
}

function parsePort(raw: Raw): number {
  const port = /^\d{1,5}$/.test(raw.value) ? Number(raw.value) : NaN;
  if (!(port >= 0 && port <= 65535)) throw invalid(raw, 'a port number from 0 to 65535');
  return port;
}

function parseHost(raw: Raw): string {
  const host = raw.value.trim();
  if (host === '' || /\s/.test(host)) throw invalid(raw, 'a host name or IP address');
  return host;
}

function parseDir(raw: Raw, cwd: string): string {
  if (raw.value.trim() === '') throw invalid(raw, 'a directory path');
  return resolve(cwd, raw.value);
}

function parseMs(raw: Raw): number {
  const n = /^\d{1,12}$/.test(raw.value) ? Number(raw.value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(raw, 'a duration in milliseconds');
  return n;
}

function parseCount(raw: Raw, what: string): number {
  const n = /^\d{1,15}$/.test(raw.value) ? Number(raw.value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(raw, what);
  return n;
}

function parseLogLevel(raw: Raw): LogLevel {
  const level = LOG_LEVELS.find((l) => l === raw.value.toLowerCase());
  if (!level) throw invalid(raw, `one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

function parseSwitch(raw: Raw): boolean {
  const v = raw.value.toLowerCase();
  if (v === 'on' || v === 'true' || v === '1') return true;
  if (v === 'off' || v === 'false' || v === '0') return false;
  throw invalid(raw, 'on or off');
}

function parseBootstrap(raw: Raw | undefined): string[] {
  if (raw === undefined) return [];
  const addrs = raw.value.split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of addrs) if (!/^\/.+\/p2p\/\w+$/.test(a)) throw invalid(raw, 'comma-separated multiaddrs, each ending in /p2p/<peer id>');
  return addrs;
}

function required(setting: Setting, flags: Flags, env: Env): Raw {
  const raw = pick(setting, flags, env);
  if (!raw) throw new CrissError('ERR', `${SETTINGS[setting].flag} has no default`);
  return raw;
}

function password(flags: Flags, env: Env): string | undefined {
  const value = pick('password', flags, env)?.value;
  return value === '' ? undefined : value;
}

/** Resolve the daemon's settings: flags, then `CRISSCROSS_*` variables, then defaults. */
export function resolveDaemonConfig(flags: Flags, env: Env = process.env, cwd = process.cwd()): DaemonConfig {
  const config: DaemonConfig = {
    host: parseHost(required('host', flags, env)),
    port: parsePort(required('port', flags, env)),
    dataDir: parseDir(required('dataDir', flags, env), cwd),
    clustersDir: parseDir(required('clustersDir', flags, env), cwd),
    keysDir: parseDir(required('keysDir', flags, env), cwd),
    logLevel: parseLogLevel(required('logLevel', flags, env)),
    gcGraceMs: parseMs(required('gcGraceMs', flags, env)),
    gcIntervalMs: parseMs(required('gcIntervalMs', flags, env)),
    directIo: parseSwitch(required('directIo', flags, env)),
    p2pHost: parseHost(required('p2pHost', flags, env)),
    p2pPort: parsePort(required('p2pPort', flags, env)),
    overlay: parseSwitch(required('overlay', flags, env)),
    serveRate: parseCount(required('serveRate', flags, env), 'bytes per second'),
    bootstrap: parseBootstrap(pick('bootstrap', flags, env)),
  };
  const pass = password(flags, env);
  if (pass !== undefined) config.password = pass;
  return config;
}

/** Resolve where a client command finds the daemon, with the same flags and variables. */
export function resolveClientConfig(flags: Pick<Flags, 'host' | 'port' | 'password'>, env: Env = process.env): ClientConfig {
  const portRaw = required('port', flags, env);
  const config: ClientConfig = { host: parseHost(required('host', flags, env)), port: parsePort(portRaw) };
  if (config.port === 0) throw invalid(portRaw, 'the port a running daemon listens on, not 0');
  const pass = password(flags, env);
  if (pass !== undefined) config.password = pass;
  return config;
}

let version: string | undefined;

/** The package version, read once from package.json (no JSON import: it would need a tsconfig flag). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
