import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';

afterEach(cleanupDaemons);

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('graceful shutdown', { timeout: 60_000 }, () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s closes the port, exits 0 and leaves a store that reopens', async (signal) => {
    const d = await startDaemon();
    expect(await d.redis().ping()).toBe('PONG');
    expect(await d.kill(signal)).toEqual({ code: 0, signal: null });
    expect(d.stderr()).toBe('');
    expect(await refusesConnections(d.port)).toBe(true);
    // The LevelDB lock was released: a new daemon opens the same data dir.
    await d.restart();
    expect(await d.redis().ping()).toBe('PONG');
  });

  it('answers every command it accepted before SIGTERM, and those writes survive a restart', async () => {
    const d = await startDaemon();
    const client = d.redis({ maxRetriesPerRequest: 0, retryStrategy: () => null });
    const acknowledged: Array<[id: string, key: string]> = [];
    const writes = Array.from({ length: 200 }, (_, i) => {
      const key = `k${i}`;
      return (client.call('PUTMULTIBIN', '', '-1', key, `v${i}`) as Promise<string>).then((id) => {
        acknowledged.push([id, key]);
      }, () => undefined);
    });
    // Stop while the pipeline is still being worked through.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (acknowledged.length > 0) {
          clearInterval(poll);
          resolve();
        }
      }, 1);
    });
    d.child.kill('SIGTERM');
    await Promise.all(writes);
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(acknowledged.length).toBeGreaterThan(0);

    await d.restart();
    const reader = d.redis();
    for (const [id, key] of acknowledged) {
      expect(await reader.call('FETCHBIN', id, key)).toBe(`v${key.slice(1)}`);
    }
  });
});
