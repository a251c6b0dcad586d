import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, tempDir } from '../harness/daemon.ts';
import { BIN, NODE, cleanEnv } from '../harness/paths.ts';
import { daemonEnv, run } from '../harness/run.ts';

afterAll(cleanupDaemons);

/**
 * Nodes without type stripping, on which the bin must re-run itself under the pinned Node: every
 * Node older than 22 on the PATH (this machine's system Node 20), and always the pinned Node with
 * type stripping switched off, so the re-run path is tested even where no old Node is installed.
 */
function oldNodes(): Array<{ name: string; command: string[] }> {
  const found: Array<{ name: string; command: string[] }> = [{ name: 'pinned Node without type stripping', command: [NODE, '--no-experimental-strip-types'] }];
  let paths: string[] = [];
  try {
    paths = execFileSync('which', ['-a', 'node'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    // No node on the PATH at all: the flagged pinned Node still covers the re-run.
  }
  for (const path of new Set(paths)) {
    const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    if (Number(/^v(\d+)/.exec(version)?.[1]) < 22) found.push({ name: `${path} ${version}`, command: [path] });
  }
  return found;
}

describe.each(oldNodes())('bin/crisscross.js under $name', { timeout: 60_000 }, ({ command }) => {
  const [node, ...flags] = command as [string, ...string[]];
  const bin = (args: string[], env: Record<string, string> = {}) => run(node, [...flags, BIN, ...args], { env });

  it('re-runs itself under the pinned Node', async () => {
    const r = await bin(['--version']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('forwards the exit code', async () => {
    const r = await bin(['get', 'tree', 'k', '--port', 'http']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid value "http" for --port');
  });

  it('runs client commands end to end', async () => {
    const d = await startDaemon();
    const put = await bin(['put', '', 'hello', 'world'], daemonEnv(d));
    expect(put.code).toBe(0);
    const got = await bin(['get', put.stdout.toString().trim(), 'hello'], daemonEnv(d));
    expect(got.stdout.toString()).toBe('world');
  });

  it('serves, and forwards SIGTERM for a graceful exit 0', async () => {
    const dir = await tempDir();
    const child = spawn(node, [...flags, BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--clusters-dir', join(dir, 'c'), '--keys-dir', join(dir, 'k')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        void exited.then(() => reject(new Error(`exited early: ${stderr}`)));
      });
      expect(ready).toMatch(/^crisscross \S+ listening on redis:\/\/127\.0\.0\.1:\d+ \(data /);
      child.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
      expect(stderr).toBe('');
    } finally {
      // The daemon runs in its own process group: only the wrapper's forwarding reaches it.
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      child.kill('SIGKILL');
    }
  });
});

describe('bin/crisscross.js', { timeout: 60_000 }, () => {
  it('works through a symlink, as npm links it into node_modules/.bin', async () => {
    const dir = await tempDir();
    const link = join(dir, 'crisscross');
    await symlink(BIN, link);
    const r = await run(link, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it.runIf(process.platform === 'linux')('serves from a process started with the daemon\'s V8 heap flag and glibc settings', async () => {
    const dir = await tempDir();
    const child = spawn(NODE, [BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--clusters-dir', join(dir, 'c'), '--keys-dir', join(dir, 'k')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv(),
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
      const daemon = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).trim();
      expect(daemon).toMatch(/^\d+$/);
      expect((await readFile(`/proc/${daemon}/cmdline`, 'utf8')).split('\0')).toContain('--initial-old-space-size=64');
      expect((await readFile(`/proc/${daemon}/environ`, 'utf8')).split('\0')).toEqual(expect.arrayContaining(['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=131072']));
    } finally {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      child.kill('SIGKILL');
    }
  });

  it('says what to do when no Node with type stripping is available', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'bin'));
    await copyFile(BIN, join(dir, 'bin', 'crisscross.js'));
    const r = await run(NODE, ['--no-experimental-strip-types', join(dir, 'bin', 'crisscross.js'), '--version']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^crisscross needs Node >= 22\.18 \(this is Node [\d.]+\); run `npm ci` in .+ to install the pinned Node/);
  });
});
