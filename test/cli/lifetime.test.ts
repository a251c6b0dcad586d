import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, type TestDaemon } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';

let d: TestDaemon;
let env: Record<string, string>;

beforeAll(async () => {
  d = await startDaemon();
  env = daemonEnv(d);
});
afterAll(cleanupDaemons);

describe('persist', { timeout: 60_000, concurrent: true }, () => {
  it('pins an existing root, by id or ^variable, printing nothing', async () => {
    const id = (await d.redis().call('PUTMULTIBIN', '', '0', 'k', 'v')) as string;
    const r = await cli(['persist', id, '--ttl', '-1'], { env });
    expect([r.code, r.stdout.toString(), r.stderr]).toEqual([0, '', '']);
    await d.redis().call('VARSET', 'pinned', id);
    expect((await cli(['persist', '^pinned', '--ttl', '60000', '-p', String(d.port)])).code).toBe(0);
  });

  it('an unknown root is a daemon error: exit 3', async () => {
    const unknown = (await d.redis().call('PUTMULTIBIN', '', '0', 'k', 'v')) as string;
    // The same id with one letter changed names no stored tree.
    const other = unknown.slice(0, -1) + (unknown.endsWith('a') ? 'b' : 'a');
    const r = await cli(['persist', other], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^crisscross: /);
  });
});
