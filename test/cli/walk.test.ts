import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { safeSegments } from '../../src/cli/dirs.ts';
import { cleanupDaemons, tempDir } from '../harness/daemon.ts';
import { cli } from '../harness/run.ts';

afterAll(cleanupDaemons);

/** Port 1 on loopback: nothing listens there, so reaching the daemon at all would exit 4, not 2. */
const NO_DAEMON = { env: { CRISSCROSS_PORT: '1' } };

describe('upload_dir refuses what a directory cannot hold, before sending anything', { timeout: 60_000, concurrent: true }, () => {
  it('a symbolic link, naming it, never following it', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'site', 'img'), { recursive: true });
    await writeFile(join(dir, 'site', 'index.html'), 'hi');
    await symlink('/etc', join(dir, 'site', 'img', 'etc'));
    const r = await cli(['upload_dir', join(dir, 'site')], NO_DAEMON);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'site', 'img', 'etc')}: a symbolic link (links are never followed)`);
    expect(r.stdout.length).toBe(0);
  });

  it('every fifo and socket at once, each named', async () => {
    const dir = await tempDir();
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
    try {
      const r = await cli(['upload_dir', dir], NO_DAEMON);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(dir, 'pipe')}: a named pipe`);
      expect(r.stderr).toContain(`${join(dir, 'sock')}: a socket`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a name that is not UTF-8', async () => {
    const dir = await tempDir();
    await writeFile(Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff, 0xfe])]), '');
    const r = await cli(['upload_dir', dir], NO_DAEMON);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the name is not valid UTF-8');
  });

  it('a symbolic link given as the directory itself', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const r = await cli(['upload_dir', join(dir, 'link')], NO_DAEMON);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is a symbolic link (links are never followed), not a directory');
  });
});

describe('download_dir keeps every path inside the target', () => {
  it('takes nested paths apart, files and directories alike', () => {
    expect(safeSegments('a/b/c.txt')).toEqual(['a', 'b', 'c.txt']);
    expect(safeSegments('ünïcödé/日本/')).toEqual(['ünïcödé', '日本']);
    expect(safeSegments('...')).toEqual(['...']);
  });

  it.each(['/etc/passwd', '../up', 'a/../../up', 'a/./b', 'a//b', '', '/', 'a/b\0c', '..'])('refuses %j', (path) => {
    expect(() => safeSegments(path)).toThrow(/would escape the target/);
  });
});
