import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, tempDir, type TestDaemon } from '../harness/daemon.ts';
import { MAIN, NODE, cleanEnv } from '../harness/paths.ts';
import { cli, cliOnTerminal, daemonEnv, run } from '../harness/run.ts';

const MiB = 1024 * 1024;
const BASE58_ID = /^[1-9A-HJ-NP-Za-km-z]{40,60}$/;

let d: TestDaemon;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  d = await startDaemon();
  env = daemonEnv(d);
  dir = await tempDir();
});
afterAll(cleanupDaemons);

async function upload(path: string, ...flags: string[]): Promise<string> {
  const r = await cli(['upload', path, ...flags], { env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const id = r.stdout.toString().trim();
  expect(id).toMatch(BASE58_ID);
  return id;
}

async function fixture(name: string, data: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('upload, cat and download round trips', { timeout: 120_000, concurrent: true }, () => {
  // Sizes around the CLI's 1 MiB pieces, its 4 MiB read windows and its 8 MiB in flight.
  it.each([0, 1, MiB - 1, MiB, MiB + 1, 9 * MiB + 7])('%i bytes', async (size) => {
    const data = randomBytes(size);
    // No progress line either: stderr is a pipe here.
    const id = await upload(await fixture(`f-${size}`, data), '--ttl', '60000');

    const catted = await cli(['cat', id], { env });
    expect(catted.code).toBe(0);
    expect(catted.stdout.length).toBe(size);
    expect(sha(catted.stdout)).toBe(sha(data));

    expect(Number(await d.redis().call('FILESIZE', id))).toBe(size);

    const out = join(dir, `copy-${size}`);
    const dl = await cli(['download', id, out], { env });
    expect([dl.code, dl.stdout.toString(), dl.stderr]).toEqual([0, '', '']);
    expect(sha(await readFile(out))).toBe(sha(data));
  });

  it('on a terminal, upload and download draw a progress line and clear it before their own output', async () => {
    const data = randomBytes(3 * MiB + 5);
    const path = await fixture('tty-file', data);
    const up = await cliOnTerminal(['upload', path], { env });
    expect(up.code).toBe(0);
    const shown = up.stdout.toString();
    // A line with the name, a bar and the size is drawn, then "\r\x1b[K" clears it and the id follows on a clean line.
    expect(shown).toMatch(/^\rtty-file \[#* *\] +\d+% {2}[\d.]+ (B|KiB|MiB) \/ 3\.0 MiB/);
    const id = /\r\x1b\[K([1-9A-HJ-NP-Za-km-z]{40,60})\r\n$/.exec(shown)?.[1];
    expect(id).toBe(await upload(path));
    const out = join(dir, 'tty-copy');
    const down = await cliOnTerminal(['download', id as string, out], { env });
    expect(down.code).toBe(0);
    expect(down.stdout.toString()).toMatch(/^\r.* \[#* *\] +\d+% .* \/ 3\.0 MiB.*\r\x1b\[K$/);
    expect(sha(await readFile(out))).toBe(sha(data));
  });

  it('the id depends only on the bytes: a file, stdin and another name agree', async () => {
    const data = randomBytes(2 * MiB + 3);
    const a = await upload(await fixture('same-a', data));
    expect(await upload(await fixture('same-b', data), '--ttl', '0')).toBe(a);
    const piped = await cli(['upload', '-'], { env, input: data });
    expect([piped.code, piped.stdout.toString().trim()]).toEqual([0, a]);
  });

  it('download replaces an existing file atomically and leaves no temporary file', async () => {
    const sub = join(dir, 'replace');
    await mkdir(sub);
    await writeFile(join(sub, 'target'), 'old contents');
    const data = randomBytes(100);
    const id = await upload(await fixture('replacement', data));
    expect((await cli(['download', id, join(sub, 'target')], { env })).code).toBe(0);
    expect(await readFile(join(sub, 'target'))).toEqual(data);
    expect(await readdir(sub)).toEqual(['target']);
  });

  it('a download that fails leaves nothing behind: unknown id exit 3, unwritable place exit 2', async () => {
    const sub = join(dir, 'failing');
    await mkdir(sub);
    const known = (await d.redis().call('PUTMULTIBIN', '', '0', 'k', 'v')) as string;
    const unknown = known.slice(0, -1) + (known.endsWith('a') ? 'b' : 'a');
    const r = await cli(['download', unknown, join(sub, 'x')], { env });
    expect(r.code).toBe(3);
    const id = await upload(await fixture('small', Buffer.from('x')));
    const missingDir = await cli(['download', id, join(sub, 'no', 'such', 'dir')], { env });
    expect(missingDir.code).toBe(2);
    expect(missingDir.stderr).toContain(`cannot write ${join(sub, 'no', 'such', 'dir')}: ENOENT`);
    expect(await readdir(sub)).toEqual([]);
  });

  it('cat of an unknown id is a daemon error: exit 3, nothing on stdout', async () => {
    const r = await cli(['cat', 'not-an-id-0OIl'], { env });
    expect(r.code).toBe(3);
    expect(r.stdout.length).toBe(0);
  });

  it('cat stops cleanly when the reader goes away', async () => {
    const id = await upload(await fixture('big', randomBytes(9 * MiB)));
    const r = await run('sh', ['-c', `"${NODE}" "${MAIN}" cat ${id} | head -c 10 | wc -c`], { env });
    expect([r.stdout.toString().trim(), r.stderr]).toEqual(['10', '']);
  });

  it('a download interrupted by Ctrl-C dies by SIGINT and leaves no temporary file', async () => {
    const id = await upload(await fixture('interrupted', randomBytes(64 * MiB)));
    const sub = join(dir, 'interrupt');
    await mkdir(sub);
    // The daemon is paused once the temporary file exists, so the download is surely mid-way.
    for (let attempt = 0; ; attempt++) {
      const child = spawn(NODE, [MAIN, 'download', id, join(sub, 'out')], { env: { ...cleanEnv(), ...env }, stdio: 'ignore' });
      const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
      let finished = false;
      void exited.then(() => (finished = true));
      while (!finished && (await readdir(sub)).length === 0) await new Promise((resolve) => setImmediate(resolve));
      d.child.kill('SIGSTOP');
      try {
        if (finished) {
          expect(attempt).toBeLessThan(3);
          await rm(join(sub, 'out'), { force: true });
          continue;
        }
        expect((await readdir(sub))[0]).toMatch(/^\.out\.crisscross-[0-9a-f]+$/);
        child.kill('SIGINT');
        expect(await exited).toEqual([null, 'SIGINT']);
        expect(await readdir(sub)).toEqual([]);
        return;
      } finally {
        d.child.kill('SIGCONT');
      }
    }
  });
});

describe('a daemon that goes away mid-upload', { timeout: 60_000 }, () => {
  it('ends the upload with exit 4 and a clear message', async () => {
    const gone = await startDaemon();
    const probe = gone.redis();
    const child = spawn(NODE, [MAIN, 'upload', '-'], { env: { ...cleanEnv(), ...daemonEnv(gone) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.on('error', () => {});
    child.stdin.write(randomBytes(MiB));
    // The CLI's connection is the probe's companion: kill only once it is there.
    while (!/^connected_clients:2\b/m.test(String(await probe.info('clients')))) await new Promise((resolve) => setImmediate(resolve));
    await gone.kill('SIGKILL');
    child.stdin.end(randomBytes(MiB));
    expect(await exited).toBe(4);
    expect(stderr).toMatch(/^crisscross: lost the connection to the crisscross daemon at 127\.0\.0\.1:\d+ \(/);
  });
});
