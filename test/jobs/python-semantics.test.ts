import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { run } from '../harness/run.ts';

afterAll(cleanupDaemons);

// Debian's interpreter, where python3-redis is installed (.ci/run).
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'queue_semantics.py');

describe('the local job queue through redis-py', { timeout: 120_000 }, () => {
  it('blocking, timeouts, many workers, answers out of order, a dying worker, a full queue', async () => {
    const d = await startDaemon();
    const kp = newKeyPair();
    const r = await run(PYTHON, [SCRIPT, String(d.port), keyName(kp.publicKey), Buffer.from(kp.privateKey).toString('hex')], { timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.toString().trim().split('\n')).toEqual([
      'ok blocking JOBGET, answer signed',
      'ok timeouts',
      'ok many workers',
      'ok answers out of order',
      'ok worker dies with a job',
      'ok full queue',
    ]);
    expect(r.code).toBe(0);
  });
});
