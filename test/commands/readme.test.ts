import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { updateReadmeCommands } from '../../src/commands/registry.ts';
import { buildCommands } from '../../src/commands/index.ts';
import { pino } from 'pino';
import { type TreeServer, startTreeServer } from './tree-server.ts';

/**
 * The README's command reference is generated from the registry. This test fails when it is
 * stale; `npm run docs` (UPDATE_README=1) rewrites it.
 */
const README = join(import.meta.dirname, '..', '..', 'README.md');

let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

it('README.md lists every command as the registry describes it', async () => {
  const { registry } = buildCommands({ store: s.store, collector: s.collector, logger: pino({ level: 'silent' }) });
  const readme = await readFile(README, 'utf8');
  const { text, changed } = updateReadmeCommands(readme, registry.renderMarkdown());
  if (changed && process.env.UPDATE_README === '1') await writeFile(README, text);
  else expect(changed, 'README.md command reference is stale: run `npm run docs`').toBe(false);
  for (const name of ['PUTMULTIBIN', 'FETCHBIN', 'SCANTREE', 'VARSET', 'HELLO', 'CLIENT SETNAME']) expect(text).toContain(name);
});
