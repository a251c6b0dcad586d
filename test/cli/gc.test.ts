import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, type TestDaemon } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';

let d: TestDaemon;
let env: Record<string, string>;

beforeAll(async () => {
  // The first collection after a start waits out the grace period (60 s by default).
  d = await startDaemon({ args: ['--gc-grace-ms', '0'] });
  env = daemonEnv(d);
});
afterAll(cleanupDaemons);

describe('gc and compact', { timeout: 60_000 }, () => {
  it('serve takes --gc-grace-ms as a flag (it reaches the collector)', async () => {
    const r = await cli(['info', 'store'], { env });
    expect(r.stdout.toString()).toMatch(/^gc_grace_ms:0$/m);
  });

  it('gc prints every field of the daemon\'s report as field:value', async () => {
    await d.redis().call('PUTMULTIBIN', '', '0', 'k', 'v');
    const r = await cli(['gc'], { env });
    expect(r.code).toBe(0);
    const fields = Object.fromEntries(r.stdout.toString().trim().split('\n').map((l) => l.split(':')));
    for (const name of ['roots', 'marked_blocks', 'freed_blocks', 'freed_bytes', 'duration_ms']) {
      expect(fields[name]).toMatch(/^\d+$/);
    }
  });

  it('compact pins the root and prints the same id', async () => {
    const id = (await d.redis().call('PUTMULTIBIN', '', '0', 'k', 'v')) as string;
    const r = await cli(['compact', id, '--ttl', '-1'], { env });
    expect([r.code, r.stdout.toString()]).toEqual([0, `${id}\n`]);
  });
});
