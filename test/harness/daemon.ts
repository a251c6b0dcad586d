/**
 * Real crisscross daemons as child processes, for tests: each on a free loopback port with its
 * own temp directories, waited for through its ready line, and always torn down. Call
 * `cleanupDaemons` from `afterEach` or `afterAll`; a process 'exit' hook kills stragglers too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis, type RedisOptions } from 'ioredis';
import { MAIN, NODE, cleanEnv } from './paths.ts';

/**
 * Resolves once ioredis finished its connect handshake. A SUBSCRIBE sent before then puts the
 * client in subscriber mode ahead of its own ready-check INFO, which ioredis then refuses
 * locally; it drops the connection and, never having been ready, reconnects without
 * resubscribing: the client silently hears nothing.
 */
export async function clientReady(r: Redis): Promise<void> {
  if (r.status !== 'ready') await once(r, 'ready');
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonOptions {
  /** Extra `serve` flags, e.g. `['--password', 'pw']`. */
  args?: string[];
  /**
   * Extra environment. A setting given here (`CRISSCROSS_PORT`, …) is not also passed as a
   * flag, so configuration through the environment can be tested.
   */
  env?: Record<string, string>;
  /** Start on this data dir instead of a fresh one (it is then not removed at cleanup). */
  dataDir?: string;
  /** How long to wait for the ready line. */
  readyTimeoutMs?: number;
  /** Node's arguments up to the subcommand, instead of the TypeScript sources' `src/cli/main.ts`. */
  command?: string[];
}

export interface TestDaemon {
  readonly host: string;
  /** Stays the same across restarts. */
  readonly port: number;
  readonly dataDir: string;
  /** Where it reads cluster files (picked up while it runs). */
  readonly clustersDir: string;
  /** Its keys dir (key pairs, read on demand). */
  readonly keysDir: string;
  /** The current process (changes on restart). */
  readonly child: ChildProcess;
  /** Resolves when the current process exits. */
  readonly exited: Promise<Exit>;
  /** Everything the daemon wrote so far, across restarts; for failure messages. */
  stdout(): string;
  stderr(): string;
  /** An ioredis client for this daemon, closed at cleanup. */
  redis(options?: RedisOptions): Redis;
  /** SIGTERM and wait; SIGKILL if it has not exited within `timeoutMs` (then throws). */
  stop(timeoutMs?: number): Promise<Exit>;
  /** Send a signal (SIGKILL by default) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** Start again on the same port and data dir (after stop or kill). */
  restart(): Promise<void>;
}

const READY = /^crisscross \S+ listening on redis:\/\/\[?([^\]]+?)\]?:(\d+) \(data (.*)\)$/;
const EXIT_WAIT_MS = 10_000;

const daemons = new Set<Handle>();
const tempDirs = new Set<string>();

class Handle implements TestDaemon {
  host = '127.0.0.1';
  port = 0;
  readonly dataDir: string;
  readonly clustersDir: string;
  readonly keysDir: string;
  child!: ChildProcess;
  exited!: Promise<Exit>;
  private out = '';
  private err = '';
  private readonly clients = new Set<Redis>();
  private readonly options: DaemonOptions;

  constructor(base: string, dataDir: string, options: DaemonOptions) {
    this.clustersDir = join(base, 'clusters');
    this.keysDir = join(base, 'keys');
    this.dataDir = dataDir;
    this.options = options;
  }

  stdout(): string {
    return this.out;
  }

  stderr(): string {
    return this.err;
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const env = this.options.env ?? {};
    const settings: Array<[flag: string, variable: string, value: string]> = [
      ['--port', 'CRISSCROSS_PORT', String(this.port)],
      ['--data-dir', 'CRISSCROSS_DATA_DIR', this.dataDir],
      ['--clusters-dir', 'CRISSCROSS_CLUSTERS_DIR', this.clustersDir],
      ['--keys-dir', 'CRISSCROSS_KEYS_DIR', this.keysDir],
    ];
    const flags = settings.filter(([, variable]) => env[variable] === undefined).flatMap(([flag, , value]) => [flag, value]);
    const child = spawn(NODE, [...(this.options.command ?? [MAIN]), 'serve', ...flags, ...(this.options.args ?? [])], {
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.err += s));
    await this.waitReady(child, this.exited);
  }

  private waitReady(child: ChildProcess, exited: Promise<Exit>): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 15_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`crisscross daemon ${why}\n--- stdout\n${this.out}--- stderr\n${this.err}`));
      };
      const timer = setTimeout(() => fail(`printed no ready line within ${timeoutMs} ms`), timeoutMs);
      void exited.then((e) => fail(`exited before it was ready (code ${e.code}, signal ${e.signal})`));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.out += `${line}\n`;
        const m = READY.exec(line);
        if (!m || settled) return;
        settled = true;
        clearTimeout(timer);
        this.host = m[1]!;
        this.port = Number(m[2]);
        resolve();
      });
    });
  }

  redis(options: RedisOptions = {}): Redis {
    const client = new Redis({ host: this.host, port: this.port, maxRetriesPerRequest: 1, ...options });
    // A test that kills the daemon would otherwise print ioredis's unhandled 'error' noise.
    client.on('error', () => {});
    this.clients.add(client);
    return client;
  }

  async stop(timeoutMs = EXIT_WAIT_MS): Promise<Exit> {
    if (!this.running()) return this.exited;
    this.child.kill('SIGTERM');
    const exit = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)]);
    if (exit) return exit;
    await this.kill('SIGKILL');
    throw new Error(`crisscross daemon did not exit within ${timeoutMs} ms of SIGTERM\n--- stderr\n${this.err}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.running()) this.child.kill(signal);
    return this.exited;
  }

  async restart(): Promise<void> {
    if (this.running()) throw new Error('restart() needs the daemon stopped or killed first');
    await this.start();
  }

  async dispose(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    this.clients.clear();
    if (this.child && this.running()) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, sleep(EXIT_WAIT_MS)]);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A fresh temp directory, removed by `cleanupDaemons`. */
export async function tempDir(prefix = 'crisscross-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Start one daemon and wait until it accepts connections. */
export async function startDaemon(options: DaemonOptions = {}): Promise<TestDaemon> {
  const base = await tempDir();
  const handle = new Handle(base, options.dataDir ?? join(base, 'data'), options);
  daemons.add(handle);
  await handle.start();
  return handle;
}

/** Start `n` daemons at once (e.g. the peers of a cluster). */
export function startDaemons(n: number, options: DaemonOptions = {}): Promise<TestDaemon[]> {
  return Promise.all(Array.from({ length: n }, () => startDaemon(options)));
}

/** Kill every daemon started so far, close their clients and remove the temp dirs. */
export async function cleanupDaemons(): Promise<void> {
  const handles = [...daemons];
  daemons.clear();
  await Promise.all(handles.map((h) => h.dispose()));
  const dirs = [...tempDirs];
  tempDirs.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

// Last resort when a worker exits without running its hooks: no daemon outlives the test run.
process.once('exit', () => {
  for (const h of daemons) if (h.child && h.running()) h.child.kill('SIGKILL');
});
