import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { run } from '../harness/run.ts';

afterAll(cleanupDaemons);

const SCRIPT = fileURLToPath(new URL('../clients/python_client.py', import.meta.url));
// Debian's interpreter, where python3-redis is installed; a pyenv or venv python3 earlier on
// the PATH would not see it.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

describe('a third-party client: redis-py from Debian python3-redis', { timeout: 60_000 }, () => {
  it('runs its script against the daemon', async () => {
    const d = await startDaemon({ args: ['--password', 'py-secret'] });
    const r = await run(PYTHON, [SCRIPT, String(d.port), 'py-secret']);
    expect(r.stderr + r.stdout.toString()).toContain('python client: all checks passed');
    expect(r.code).toBe(0);
  });
});
