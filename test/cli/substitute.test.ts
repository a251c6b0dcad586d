import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit.ts';
import { substituteId } from '../../src/cli/substitute.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-subst-'));
  await writeFile(join(dir, 'cluster.yaml'), 'Name: 2DrjgbFdhNiSJA\nMaxTTL: 86400000\nPeers:\n  - a\n');
  await writeFile(join(dir, 'list.yaml'), '- a\n- b\n');
  await writeFile(join(dir, 'odd#name.yaml'), 'Root: xyz\n');
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('id argument substitution', () => {
  it.each(['2DrjgbFdhNiSJA', '^app', '', 'nil', 'plain'])('passes %j through for the daemon', async (arg) => {
    expect(await substituteId(arg, dir)).toBe(arg);
  });

  it('reads a field of a YAML file, relative to the working directory', async () => {
    expect(await substituteId('*cluster.yaml#Name', dir)).toBe('2DrjgbFdhNiSJA');
    expect(await substituteId(`*${join(dir, 'cluster.yaml')}#MaxTTL`, '/')).toBe('86400000');
    expect(await substituteId('*odd#name.yaml#Root', dir)).toBe('xyz');
  });

  it.each([
    ['*cluster.yaml', /expected \*FILE#FIELD/],
    ['*cluster.yaml#', /expected \*FILE#FIELD/],
    ['*#Name', /expected \*FILE#FIELD/],
    ['*missing.yaml#Name', /cannot read .*missing\.yaml/],
    ['*cluster.yaml#Nope', /has no field "Nope"/],
    ['*cluster.yaml#Peers', /has no text value in field "Peers"/],
    ['*list.yaml#0', /has no field "0"/],
  ])('rejects %j as a usage error', async (arg, message) => {
    await expect(substituteId(arg, dir)).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringMatching(message) });
  });
});
