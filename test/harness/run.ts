import { spawn } from 'node:child_process';
import { MAIN, NODE, ROOT, cleanEnv } from './paths.ts';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  input?: string | Buffer;
  timeoutMs?: number;
}

/** Run a program to completion, capturing its output; killed (and reported) past the timeout. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd ?? ROOT, env: { ...cleanEnv(), ...options.env }, stdio: 'pipe' });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} took over ${timeoutMs} ms\n--- stderr\n${err}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
    // A program that exits without reading its input (redis-cli with arguments) makes this EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** `crisscross ARGS` through the pinned Node, as `npx crisscross` would run it. */
export function cli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(NODE, [MAIN, ...args], options);
}

/** POSIX shell quoting of one word. */
const shellWord = (w: string): string => `'${w.replaceAll("'", "'\\''")}'`;

/**
 * `crisscross ARGS` with a terminal for stdout and stderr: util-linux `script` runs it on a new
 * pseudo-terminal, so `isTTY` holds as for a user at a shell. The terminal turns each "\n" into
 * "\r\n", and `stdout` holds stdout and stderr together.
 */
export function cliOnTerminal(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('script', ['-qec', [NODE, MAIN, ...args].map(shellWord).join(' '), '/dev/null'], options);
}

/** Debian's redis-cli (redis-tools), a client nobody here wrote. */
export function redisCli(port: number, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], options);
}

/** The environment that points client commands at a daemon. */
export function daemonEnv(d: { host: string; port: number }): Record<string, string> {
  return { CRISSCROSS_HOST: d.host, CRISSCROSS_PORT: String(d.port) };
}
