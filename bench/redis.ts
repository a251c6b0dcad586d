import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** Driving Debian's redis-server and redis-benchmark from the benchmarks. */
export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_BENCHMARK = '/usr/bin/redis-benchmark';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}`))));
  });
}

/** Requests per second from `redis-benchmark --csv` (header line, then one row per test). */
export async function redisBenchmark(requests: number, port: number, args: string[]): Promise<number> {
  const csv = await run(REDIS_BENCHMARK, ['-p', String(port), '-n', String(requests), '-r', '100000', '--csv', ...args]);
  const row = csv.trim().split('\n').at(-1)!;
  return Number(JSON.parse(`[${row}]`)[1]);
}


/** Waits until something accepts TCP connections on the port (bounded). */
export async function waitForPort(port: number): Promise<boolean> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

export async function startRedis(): Promise<{ port: number; close: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  if (!(await waitForPort(port))) {
    child.kill('SIGKILL');
    throw new Error('redis-server did not start');
  }
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
