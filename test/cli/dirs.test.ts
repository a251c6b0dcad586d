import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, tempDir, type TestDaemon } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';

const BASE58_ID = /^[1-9A-HJ-NP-Za-km-z]{40,60}$/;

let d: TestDaemon;
let env: Record<string, string>;

beforeAll(async () => {
  d = await startDaemon();
  env = daemonEnv(d);
});
afterAll(cleanupDaemons);

/** A local tree from a path -> contents map; a path ending in '/' is an (empty) directory. */
async function makeTree(spec: Record<string, string | Buffer>): Promise<string> {
  const root = join(await tempDir(), 'tree');
  await mkdir(root);
  for (const [path, contents] of Object.entries(spec)) {
    const abs = join(root, path);
    if (path.endsWith('/')) {
      await mkdir(abs, { recursive: true });
    } else {
      await mkdir(join(abs, '..'), { recursive: true });
      await writeFile(abs, contents);
    }
  }
  return root;
}

/** What is on disk under `root`, in the same shape makeTree takes: files with contents, empty directories with '/'. */
async function readTree(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const names = (await readdir(join(root, rel))).sort();
  if (names.length === 0 && rel !== '') out[rel] = '';
  for (const name of names) {
    const path = `${rel}${name}`;
    if ((await stat(join(root, path))).isDirectory()) Object.assign(out, await readTree(root, `${path}/`));
    else out[path] = (await readFile(join(root, path))).toString('base64');
  }
  return out;
}

async function uploadDir(root: string, ...flags: string[]): Promise<string> {
  const r = await cli(['upload_dir', root, ...flags], { env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const id = r.stdout.toString().trim();
  expect(id).toMatch(BASE58_ID);
  return id;
}

const SITE = {
  'index.html': '<h1>hi</h1>',
  'empty.txt': '',
  'img/logo.bin': randomBytes(3 * 1024 * 1024 + 5),
  'img/icons/a.png': 'a',
  'ünïcödé/日本語 ファイル.txt': 'unicode',
  'deep/er/and/deeper/leaf': 'leaf',
  'nothing-here/': '',
  'img/empty-too/': '',
};

describe('upload_dir, ls and download_dir round trips', { timeout: 120_000, concurrent: true }, () => {
  it('nested paths, unicode names, empty files and empty directories survive the round trip', async () => {
    const root = await makeTree(SITE);
    const id = await uploadDir(root, '--ttl', '600000');
    const target = join(await tempDir(), 'copy');
    const r = await cli(['download_dir', id, target], { env });
    expect([r.code, r.stdout.toString(), r.stderr]).toEqual([0, '', '']);
    expect(await readTree(target)).toEqual(await readTree(root));
  });

  it('ls prints size<TAB>path in path order, directories with - and a trailing /', async () => {
    const id = await uploadDir(await makeTree({ 'b.txt': 'bb', 'a/x': 'xxx', 'a/e/': '', 'é': '' }));
    const r = await cli(['ls', id], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('-\ta/\n-\ta/e/\n3\ta/x\n2\tb.txt\n0\té\n');
    const some = await cli(['ls', id, 'a/', '--ids'], { env });
    const lines = some.stdout.toString().trim().split('\n');
    expect(lines[0]).toBe('-\t-\ta/');
    expect(lines.at(-1)).toMatch(/^3\t[1-9A-HJ-NP-Za-km-z]{40,60}\ta\/x$/);
    const [, fileId] = lines.at(-1)!.split('\t');
    expect((await cli(['cat', fileId!], { env })).stdout.toString()).toBe('xxx');
  });

  it('--tree merges into an existing directory: new paths added, shared paths replaced, the old id unchanged', async () => {
    const first = await uploadDir(await makeTree({ 'keep.txt': 'keep', 'shared.txt': 'old' }));
    const merged = await uploadDir(await makeTree({ 'shared.txt': 'new', 'more/added.txt': 'added' }), '--tree', first);
    expect(merged).not.toBe(first);
    const listing = (await cli(['ls', merged], { env })).stdout.toString();
    expect(listing).toBe('4\tkeep.txt\n-\tmore/\n5\tmore/added.txt\n3\tshared.txt\n');
    expect((await cli(['ls', first], { env })).stdout.toString()).toBe('4\tkeep.txt\n3\tshared.txt\n');
    // The same contents uploaded in one go give the same id: directories are history-independent.
    expect(await uploadDir(await makeTree({ 'keep.txt': 'keep', 'shared.txt': 'new', 'more/added.txt': 'added' }))).toBe(merged);
  });

  it('more entries than one DIRPUT batch', async () => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 2100; i++) spec[`many/${String(i).padStart(4, '0')}.txt`] = String(i);
    const root = await makeTree(spec);
    const id = await uploadDir(root);
    const lines = (await cli(['ls', id], { env })).stdout.toString().trim().split('\n');
    expect(lines).toHaveLength(2101);
    const target = join(await tempDir(), 'many-copy');
    expect((await cli(['download_dir', id, target], { env })).code).toBe(0);
    expect(await readTree(target)).toEqual(await readTree(root));
  });

  it('download_dir fills an empty directory, refuses a non-empty one and leaves nothing behind', async () => {
    const id = await uploadDir(await makeTree({ 'f.txt': 'f' }));
    const parent = await tempDir();
    await mkdir(join(parent, 'empty'));
    expect((await cli(['download_dir', id, join(parent, 'empty')], { env })).code).toBe(0);
    expect(await readFile(join(parent, 'empty', 'f.txt'), 'utf8')).toBe('f');
    const again = await cli(['download_dir', id, join(parent, 'empty')], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    expect(await readdir(parent)).toEqual(['empty']);
  });

  it('an empty directory is the empty tree, and merging nothing keeps the directory', async () => {
    const id = await uploadDir(await makeTree({}));
    expect(id).toBe('QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj');
    expect((await cli(['ls', id], { env })).stdout.toString()).toBe('');
    const some = await uploadDir(await makeTree({ 'a.txt': 'a' }), '--ttl', '0');
    expect(await uploadDir(await makeTree({}), '--tree', some, '--ttl', '60000')).toBe(some);
    const target = join(await tempDir(), 'none');
    expect((await cli(['download_dir', id, target], { env })).code).toBe(0);
    expect(await readdir(target)).toEqual([]);
  });
});
