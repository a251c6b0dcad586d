import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/cli/client.ts';
import { CliFailure } from '../../src/cli/exit.ts';
import { Pipeline, windows } from '../../src/cli/pipeline.ts';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';

let conn: Connection;

beforeAll(async () => {
  const d = await startDaemon();
  conn = await connect({ host: d.host, port: d.port });
});
afterAll(async () => {
  await conn.close();
  await cleanupDaemons();
});

describe('Pipeline against a real daemon', { timeout: 60_000 }, () => {
  it('sends without waiting, hands replies over in order, and never has more than its bound unacknowledged', async () => {
    const value = Buffer.alloc(10_000, 'v');
    const weight = 'PUTMULTIBIN'.length + '-1'.length + 'k000'.length + value.length;
    const maxBytes = 5 * weight;
    const p = new Pipeline(conn, maxBytes);
    const ids: string[] = [];
    let sent = 0;
    let mostUnanswered = 0;
    for (let i = 0; i < 100; i++) {
      await p.send((reply) => ids.push(String(reply)), 'PUTMULTIBIN', '', '-1', `k${String(i).padStart(3, '0')}`, value);
      sent++;
      expect((sent - ids.length) * weight).toBeLessThanOrEqual(maxBytes);
      mostUnanswered = Math.max(mostUnanswered, sent - ids.length);
    }
    expect(mostUnanswered).toBeGreaterThan(1);
    await p.drain();
    expect(ids).toHaveLength(100);
    const direct = await conn.call('PUTMULTIBIN', '', '-1', 'k042', value);
    expect(ids[42]).toBe(String(direct));
  });

  it('rejects the next send and the drain with the first error reply, and hands over nothing after it', async () => {
    const p = new Pipeline(conn, 1);
    const seen: string[] = [];
    await expect(p.send(() => seen.push('a'), 'PUTMULTIBIN', '', '-1', 'a', '1')).resolves.toBeUndefined();
    await expect(p.send(() => seen.push('bad'), 'PUTMULTIBIN', 'not-an-id-0OIl', '-1', 'b', '2')).rejects.toBeInstanceOf(CliFailure);
    await expect(p.drain()).rejects.toBeInstanceOf(CliFailure);
    expect(seen).toEqual(['a']);
  });

  it('a throwing reply handler fails the pipeline like an error reply', async () => {
    const p = new Pipeline(conn, 1 << 20);
    await p.send(() => {
      throw new Error('bad reply');
    }, 'PING');
    await expect(p.drain()).rejects.toThrow('bad reply');
  });
});

describe('windows', () => {
  it('cuts a size into windows, the last one short, none for an empty file', () => {
    expect([...windows('f', 10, 4)]).toEqual([
      { file: 'f', offset: 0, length: 4 },
      { file: 'f', offset: 4, length: 4 },
      { file: 'f', offset: 8, length: 2 },
    ]);
    expect([...windows('f', 8, 4)].map((w) => w.length)).toEqual([4, 4]);
    expect([...windows('f', 0, 4)]).toEqual([]);
  });
});
