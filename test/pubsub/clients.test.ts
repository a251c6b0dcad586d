import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, gate, parseAll, rawClient, testCommands, text } from '../resp/helpers.ts';
import { type PubsubServer, ScriptClient, startPubsubServer } from './helpers.ts';

describe('pub/sub with real clients', { timeout: 60_000 }, () => {
  let s: PubsubServer;
  const held = gate();
  const gates = [held];
  const clients: Redis[] = [];
  // No ready-check INFO: a SUBSCRIBE sent before it makes ioredis drop the connection and
  // reconnect unsubscribed (see clientReady in test/harness/daemon.ts).
  const client = (): Redis => {
    const r = new Redis({ port: s.port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1, enableReadyCheck: false });
    clients.push(r);
    return r;
  };

  beforeAll(async () => {
    s = await startPubsubServer({ maxPushOutput: 1024 * 1024 }, testCommands(gates));
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await s?.close();
  });

  it('ioredis: messages and pattern messages arrive in the order published', async () => {
    const sub = client();
    const pub = client();
    const got: string[] = [];
    const all = new Promise<void>((resolve) => {
      const note = (entry: string): void => {
        got.push(entry);
        if (got.length === 3000) resolve();
      };
      sub.on('messageBuffer', (channel: Buffer, message: Buffer) => note(`${channel}:${message}`));
      sub.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) => note(`${pattern}|${channel}:${message}`));
    });
    expect(await sub.subscribe('jobs')).toBe(1);
    expect(await sub.psubscribe('ev.*')).toBe(2);
    const expected: string[] = [];
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < 1500; i++) {
      sends.push(pub.publish('jobs', `j${i}`), pub.publish(`ev.${i % 7}`, `e${i}`));
      expected.push(`jobs:j${i}`, `ev.*|ev.${i % 7}:e${i}`);
    }
    expect(new Set(await Promise.all(sends))).toEqual(new Set([1]));
    await all;
    expect(got).toEqual(expected);
    expect(await pub.pubsub('NUMSUB', 'jobs')).toEqual(['jobs', 1]);
    expect(await sub.unsubscribe('jobs')).toBe(1);
    expect(await sub.punsubscribe('ev.*')).toBe(0);
    expect(await sub.ping()).toBe('PONG');
  });

  it('CLIENT LIST shows subscriptions as Redis does (sub, psub, flag P, TYPE pubsub)', async () => {
    const sub = client();
    await sub.subscribe('l1', 'l2');
    await sub.psubscribe('l*');
    const admin = client();
    const id = String(await admin.client('ID'));
    const pubsubList = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    expect(pubsubList).toMatch(/ flags=P .* sub=2 psub=1 /);
    expect(pubsubList).not.toContain(`id=${id} `);
    expect(String(await admin.call('CLIENT', 'LIST', 'TYPE', 'normal'))).toContain(`id=${id} `);
    sub.disconnect();
  });

  it('RESP3: a message reaches an idle client at once, between its replies', async () => {
    const sub = await ScriptClient.open(s.port, true);
    const pub = await ScriptClient.open(s.port);
    await sub.send(frame('SUBSCRIBE', 'idle'));
    const before = sub.frames().length;
    await pub.send(frame('PUBLISH', 'idle', 'wake up'));
    // No command from the subscriber: the push must still have left the server.
    for (let i = 0; i < 100 && sub.frames().length === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(text(sub.frames()[before])).toEqual(['message', 'idle', 'wake up']);
    sub.close();
    pub.close();
  });

  it('RESP3: a message published while the subscriber\'s own command waits follows that reply, whole', async () => {
    const sub = await ScriptClient.open(s.port, true);
    const pub = await ScriptClient.open(s.port);
    await sub.send(frame('SUBSCRIBE', 'held'));
    const before = sub.frames().length;
    sub.write(frame('WAITGATE'));
    await pub.send(frame('PUBLISH', 'held', 'during'));
    held.open();
    await sub.sync();
    expect(sub.frames().slice(before).map(text)).toEqual(['OPENED', ['message', 'held', 'during'], 'PONG']);
    sub.close();
    pub.close();
  });

  it('a subscriber that stops reading is disconnected once its backlog passes the limit; the publisher is unharmed', async () => {
    const slow = await rawClient(s.port);
    slow.socket.write(frame('SUBSCRIBE', 'firehose'));
    await slow.waitForBytes(1);
    slow.socket.pause();
    const pub = client();
    const big = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    // The kernel's socket buffers take some megabytes first; past those the server's own limit (1 MiB) cuts.
    while (!slow.socket.destroyed && sent < 2000) {
      await pub.publish('firehose', big);
      sent++;
      if (s.server.stats.rejectedPushLimit > 0) break;
    }
    expect(s.server.stats.rejectedPushLimit).toBe(1);
    expect(sent).toBeLessThan(2000);
    slow.socket.resume();
    await slow.closed;
    expect(await pub.publish('firehose', 'anyone?')).toBe(0);
    expect(await pub.pubsub('NUMSUB', 'firehose')).toEqual(['firehose', 0]);
    expect(parseAll(slow.received()).length).toBeGreaterThan(0);
  });
});
