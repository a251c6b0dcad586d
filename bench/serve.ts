import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The checkout, and the Node 22 the project pins (system Node may be older). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const NODE = join(ROOT, 'node_modules/.bin/node');

export interface Daemon {
  port: number;
  /** The process serving (bin/crisscross.js may re-run `serve` in a child of its own). */
  pid: number;
  child: ChildProcess;
  close: () => Promise<void>;
}

/** The serving process under the bin: its only child when it re-ran itself, else itself. */
function servingPid(pid: number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '');
    return children.length === 1 ? Number(children[0]) : pid;
  } catch {
    return pid;
  }
}

/**
 * `crisscross serve` through the bin, as users start it (it sets up the process, e.g. glibc's
 * malloc, before the daemon runs), on 127.0.0.1, a free port and its own data directory; `env`
 * adds CRISSCROSS_* settings.
 */
export async function startDaemon(dataDir: string, env: Record<string, string> = {}): Promise<Daemon> {
  const child = spawn(NODE, [join(ROOT, 'bin/crisscross.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir,
    '--clusters-dir', join(dataDir, 'clusters'), '--keys-dir', join(dataDir, 'keys')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start within 30 s')), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on redis:\/\/[^:]+:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  }).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  const pid = servingPid(child.pid as number);
  return {
    port,
    pid,
    child,
    close: async () => {
      // The bin forwards SIGTERM to the daemon it re-ran and exits with it.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
