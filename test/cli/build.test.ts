import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtEntry, sourceStamp } from '../../bin/built.js';
import { decodeValue } from '../../src/codec/index.ts';
import { cleanupDaemons, startDaemon, tempDir } from '../harness/daemon.ts';
import { NODE, ROOT } from '../harness/paths.ts';
import { run } from '../harness/run.ts';

afterAll(cleanupDaemons);

/** A project of a few TypeScript files, with the repository's build scripts. */
async function project(files: Record<string, string>): Promise<string> {
  const root = await tempDir('crisscross-build-');
  await mkdir(join(root, 'bin'));
  for (const f of ['build.js', 'built.js']) await copyFile(join(ROOT, 'bin', f), join(root, 'bin', f));
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'fixture', version: '9.9.9', type: 'module' }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

const MAIN = [
  "import { twice, type Pair } from '../util.ts';",
  "export * from '../util.ts';",
  'interface Local { n: number }',
  'const p: Pair = [1, 2];',
  "const { later } = await import('./later.ts');",
  'const local: Local = { n: twice(p[1]) };',
  "console.log(JSON.stringify({ n: local.n, later: later(), at: new Error().stack?.split('\\n')[1].trim() }));",
].join('\n');

describe('the build the bin runs (bin/built.js, bin/build.js)', { timeout: 60_000 }, () => {
  it('strips types keeping every position, renames relative .ts imports, and runs where Node strips nothing', async () => {
    const root = await project({
      'src/cli/main.ts': MAIN,
      'src/cli/later.ts': "export const later = (): string => 'later';\n",
      'src/util.ts': 'export type Pair = [number, number];\nexport function twice(n: number): number {\n  return n * 2;\n}\n',
    });
    const entry = builtEntry(root) as string;
    expect(entry).toBe(join(root, 'dist', sourceStamp(root), 'src', 'cli', 'main.js'));
    const r = await run(NODE, ['--no-experimental-strip-types', entry]);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.toString()) as { n: number; later: string; at: string };
    expect(out).toMatchObject({ n: 4, later: 'later' });
    // Where `new Error` stands in the TypeScript source: the stripped code kept the positions.
    expect(out.at).toMatch(new RegExp(`main\\.js:7:${MAIN.split('\n')[6].indexOf('new Error') + 1}$`));
    expect(await readFile(join(dirname(dirname(dirname(entry))), 'package.json'), 'utf8')).toContain('9.9.9');

    // Unchanged sources: the same build, not made again.
    const built = (await stat(join(root, 'dist', sourceStamp(root), 'BUILT'))).mtimeMs;
    expect(builtEntry(root)).toBe(entry);
    expect((await stat(join(root, 'dist', sourceStamp(root), 'BUILT'))).mtimeMs).toBe(built);

    // A changed source: a new build beside the old one, which is left as it was.
    await writeFile(join(root, 'src/util.ts'), 'export type Pair = [number, number];\nexport function twice(n: number): number {\n  return n * 3;\n}\n');
    const next = builtEntry(root) as string;
    expect(next).not.toBe(entry);
    expect(JSON.parse((await run(NODE, ['--no-experimental-strip-types', next])).stdout.toString()).n).toBe(6);
    expect(JSON.parse((await run(NODE, ['--no-experimental-strip-types', entry])).stdout.toString()).n).toBe(4);
  });

  it('refuses sources that name a .ts file in a way it cannot rewrite: the bin then runs the sources', async () => {
    const root = await project({ 'src/cli/main.ts': "new URL('./worker.ts', import.meta.url);\n" });
    expect(builtEntry(root)).toBeUndefined();
    const r = await run(NODE, [join(root, 'bin', 'build.js'), root, sourceStamp(root)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/crisscross build: a relative \.ts path the build cannot rewrite is left in cli\/main\.ts/);
  });

  it('builds this project into a daemon that serves without type stripping: trees, files (the chunking thread) and SQL', async () => {
    const entry = builtEntry(ROOT);
    expect(entry).toBeDefined();
    const d = await startDaemon({ command: ['--no-experimental-strip-types', entry as string] });
    const r = d.redis();
    expect(await r.call('PING')).toBe('PONG');
    const root = (await r.call('PUTMULTIBIN', '', '-1', 'k', 'v')) as string;
    expect(await r.call('FETCHBIN', root, 'k')).toBe('v');
    const bytes = Buffer.alloc(3_000_000, 7);
    await r.call('FILEBEGIN');
    for (let o = 0; o < bytes.length; o += 1_000_000) await r.callBuffer('FILEWRITE', bytes.subarray(o, o + 1_000_000));
    const file = (await r.call('FILEEND', '-1')) as string;
    expect((await r.callBuffer('FILEREAD', file, '0', String(bytes.length))) as Buffer).toEqual(bytes);
    const [db] = (await r.call('SQL', '', '-1', 'CREATE TABLE t(a)', 'INSERT INTO t VALUES (41 + 1)')) as string[];
    const [result] = (await r.callBuffer('SQLREAD', db, 'SELECT a FROM t')) as Buffer[];
    expect((decodeValue(result) as Map<string, unknown>).get('rows')).toEqual([[42]]);
  });
});
