import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The checkout, and the Node 22 the project pins (system Node may be older). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const NODE = join(ROOT, 'node_modules/.bin/node');

export interface Daemon {
  port: number;
  pid: number;
  child: ChildProcess;
  close: () => Promise<void>;
}

/**
 * `crisscross serve` as a child process on 127.0.0.1, a free port, and its own data directory;
 * `env` adds CRISSCROSS_* settings.
 */
export async function startDaemon(dataDir: string, env: Record<string, string> = {}): Promise<Daemon> {
  const child = spawn(NODE, [join(ROOT, 'src/cli/main.ts'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir,
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
  return {
    port,
    pid: child.pid as number,
    child,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
