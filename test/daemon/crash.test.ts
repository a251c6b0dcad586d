import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';

afterAll(cleanupDaemons);

interface Ack {
  root: string;
  key: string;
  value: string;
}

/**
 * Writers that each chain PUTMULTIBIN onto their previous root and record a write only once
 * its reply (the new root) arrived: the daemon acknowledged it, so it must survive kill -9.
 */
async function writeUntilKilled(redis: Redis, writers: number, round: number, acks: Ack[]): Promise<void> {
  const loop = async (w: number): Promise<void> => {
    let root = '';
    for (let i = 0; i < 100_000; i++) {
      const key = `r${round}-w${w}-${i}`;
      const value = `value-${key}-${'x'.repeat(i % 50)}`;
      let reply: Buffer;
      try {
        reply = (await redis.callBuffer('PUTMULTIBIN', root, '-1', key, value)) as Buffer;
      } catch {
        return; // the daemon died under us: this write was never acknowledged
      }
      root = reply.toString();
      acks.push({ root, key, value });
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => loop(w)));
}

describe('kill -9 under a concurrent write load', () => {
  it('loses no acknowledged write, repeatedly, and restarts cleanly', async () => {
    const daemon = await startDaemon();
    const acks: Ack[] = [];
    for (let round = 0; round < 4; round++) {
      const redis = daemon.redis({ maxRetriesPerRequest: 0 });
      await redis.ping();
      const target = acks.length + 150 + round * 97;
      let finished = false;
      const load = writeUntilKilled(redis, 16, round, acks).finally(() => (finished = true));
      // Kill while writes are in flight: as soon as enough have been acknowledged.
      while (acks.length < target && !finished) await new Promise((r) => setTimeout(r, 5));
      expect(finished, 'the writers stopped before the kill').toBe(false);
      const exit = await daemon.kill('SIGKILL');
      expect(exit.signal).toBe('SIGKILL');
      await load;
      redis.disconnect();
      await daemon.restart();
      const check = daemon.redis();
      const replies = await Promise.all(acks.map((a) => check.callBuffer('FETCHBIN', a.root, a.key)));
      const lost = acks.filter((a, i) => (replies[i] as Buffer | null)?.toString() !== a.value);
      expect(lost, `lost ${lost.length} of ${acks.length} acknowledged writes`).toEqual([]);
      check.disconnect();
    }
    expect(acks.length).toBeGreaterThan(600);
  }, 120_000);
});
