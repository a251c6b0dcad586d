import { access } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, startDaemons } from '../harness/daemon.ts';

afterEach(cleanupDaemons);

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

describe('the daemon test harness', { timeout: 60_000 }, () => {
  it('starts several daemons on their own ports and dirs, and cleans every trace up', async () => {
    const ds = await startDaemons(3);
    expect(new Set(ds.map((d) => d.port)).size).toBe(3);
    expect(new Set(ds.map((d) => d.dataDir)).size).toBe(3);
    expect(await Promise.all(ds.map((d) => d.redis().ping()))).toEqual(['PONG', 'PONG', 'PONG']);

    await cleanupDaemons();
    for (const d of ds) {
      expect(d.child.exitCode !== null || d.child.signalCode !== null).toBe(true);
      expect(await exists(d.dataDir)).toBe(false);
    }
  });

  it('restarts a killed daemon on the same port and data dir', async () => {
    const d = await startDaemon();
    const port = d.port;
    const id = (await d.redis().call('PUTMULTIBIN', '', '-1', 'k', 'v')) as string;
    expect(await d.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await d.restart();
    expect(d.port).toBe(port);
    expect(await d.redis().call('FETCHBIN', id, 'k')).toBe('v');
    await cleanupDaemons();
  });

  it('reports a daemon that cannot start, with its stderr', async () => {
    await expect(startDaemon({ args: ['--log-level', 'loud'] })).rejects.toThrow(/exited before it was ready[\s\S]*--- stderr\n.*invalid value "loud" for --log-level/);
    await cleanupDaemons();
  });
});
