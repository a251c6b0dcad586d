import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonFile } from '../../src/net/json-file.ts';

describe('documents kept in the data dir', () => {
  let dir = '';
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the last of several saves, and a failed save does not stop later ones', async () => {
    dir = await mkdtemp(join(tmpdir(), 'crisscross-json-'));
    const f = new JsonFile(join(dir, 'sub', 'doc.json'), 0o600);
    await expect(f.save({ n: 0 })).rejects.toThrow();
    await mkdir(join(dir, 'sub'));
    await Promise.all([1, 2, 3].map((n) => f.save({ n })));
    expect(JSON.parse(await readFile(f.path, 'utf8'))).toEqual({ n: 3 });
    expect((await stat(f.path)).mode & 0o777).toBe(0o600);
  });
});
