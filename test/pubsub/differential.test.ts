import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER, startRedis } from '../../bench/redis.ts';
import { frame, text } from '../resp/helpers.ts';
import { type PubsubServer, ScriptClient, startPubsubServer } from './helpers.ts';

/**
 * Pub/sub against a real redis-server: the same script of commands on several connections,
 * every byte each connection received compared. Scripts avoid what Redis itself leaves to
 * chance: the order of UNSUBSCRIBE with no arguments over several channels and of several
 * patterns matching one message both follow its hash tables' random seed.
 */
type Step = [client: number, bytes: Buffer];

interface Script {
  name: string;
  /** One entry per connection: true for RESP3 (HELLO 3 first). */
  clients: boolean[];
  steps: Step[];
}

async function run(port: number, script: Script): Promise<string[]> {
  const clients = await Promise.all(script.clients.map((resp3) => ScriptClient.open(port, resp3)));
  try {
    for (const [i, bytes] of script.steps) {
      await clients[i].send(bytes);
      for (const [j, c] of clients.entries()) if (j !== i) await c.sync();
    }
    return clients.map((c) => withoutIdentity(c.received()));
  } finally {
    for (const c of clients) c.close();
  }
}

/** A HELLO reply names the server's version and the connection id: masked in both. */
function withoutIdentity(received: string): string {
  return received.replace(/version\r\n\$\d+\r\n[0-9.]+\r\n/g, 'version\r\n<v>\r\n').replace(/id\r\n:\d+\r\n/g, 'id\r\n<id>\r\n');
}

const f = frame;
const cat = (...frames: Buffer[]): Buffer => Buffer.concat(frames);

const SCRIPTS: Script[] = [
  {
    name: 'RESP2: subscribe, messages, the subscribed context, unsubscribe',
    clients: [false, false],
    steps: [
      [0, f('SUBSCRIBE', 'a', 'b', 'a')],
      [1, cat(f('PUBLISH', 'a', 'hello'), f('PUBLISH', 'b', 'x'), f('PUBLISH', 'c', 'y'))],
      [0, cat(f('ECHO', 'no'), f('PUBLISH', 'a', 'no'), f('CLIENT', 'GETNAME'), f('PUBSUB', 'NUMPAT'), f('HELLO', '2'), f('PING', 'hi'), f('nosuch', 'x'), f('PING', 'a', 'b'))],
      [0, f('UNSUBSCRIBE', 'a', 'zz')],
      [1, cat(f('PUBLISH', 'a', 'gone'), f('PUBLISH', 'b', 'still'))],
      [0, f('UNSUBSCRIBE')],
      [0, cat(f('UNSUBSCRIBE'), f('PUNSUBSCRIBE'), f('ECHO', 'free again'))],
      [1, f('PUBLISH', 'b', 'nobody')],
    ],
  },
  {
    name: 'RESP2: patterns, and a channel and a pattern both matching',
    clients: [false, false, false],
    steps: [
      [0, f('PSUBSCRIBE', 'news.*', 'h?llo', 'h[ae]llo')],
      [2, cat(f('SUBSCRIBE', 'news.today'), f('PSUBSCRIBE', 'news.*'))],
      [1, cat(f('PUBLISH', 'news.today', 'n1'), f('PUBLISH', 'hxllo', 'q'), f('PUBLISH', 'news', 'none'), f('PUBSUB', 'NUMPAT'))],
      [0, f('PUNSUBSCRIBE', 'news.*', 'nothing')],
      [1, cat(f('PUBLISH', 'news.today', 'n2'), f('PUBSUB', 'NUMSUB', 'news.today', 'x'), f('PUBSUB', 'NUMPAT'))],
      [2, f('UNSUBSCRIBE', 'news.today')],
      [2, cat(f('ECHO', 'still in a pattern'), f('PUNSUBSCRIBE'))],
      [0, f('PUNSUBSCRIBE', 'h?llo')],
      [0, f('PUNSUBSCRIBE')],
    ],
  },
  {
    name: 'RESP3: confirmations and messages are pushes, any command runs',
    clients: [true, false],
    steps: [
      [0, f('SUBSCRIBE', 'a')],
      [0, cat(f('ECHO', 'allowed'), f('PUBSUB', 'NUMSUB', 'a'))],
      [1, f('PUBLISH', 'a', 'm1')],
      [0, cat(f('PUBLISH', 'a', 'to myself'), f('PSUBSCRIBE', 'a*'))],
      [1, f('PUBLISH', 'a', 'm2')],
      [0, cat(f('UNSUBSCRIBE', 'a'), f('UNSUBSCRIBE'), f('PUNSUBSCRIBE', 'x'), f('PUNSUBSCRIBE'), f('PUNSUBSCRIBE'))],
    ],
  },
  {
    name: 'RESP3 to RESP2 while subscribed: the restrictions start',
    clients: [true],
    steps: [
      [0, cat(f('SUBSCRIBE', 'a'), f('HELLO', '2'))],
      [0, cat(f('ECHO', 'refused now'), f('UNSUBSCRIBE'), f('ECHO', 'fine'))],
    ],
  },
  {
    name: 'RESET leaves every subscription silently',
    clients: [false, true, false],
    steps: [
      [0, f('SUBSCRIBE', 'a')],
      [1, cat(f('PSUBSCRIBE', '*'), f('SUBSCRIBE', 'a'))],
      [0, cat(f('RESET'), f('ECHO', 'after reset'))],
      [1, f('RESET')],
      [2, cat(f('PUBLISH', 'a', 'nobody'), f('PUBSUB', 'NUMPAT'), f('PUBSUB', 'CHANNELS'))],
    ],
  },
  {
    name: 'binary channels and payloads',
    clients: [false, true, false],
    steps: [
      [0, f('SUBSCRIBE', Buffer.from([0, 0xff, 13, 10]))],
      [1, f('PSUBSCRIBE', Buffer.from([0x5b, 0, 0x2d, 0x01, 0x5d, 0x2a]))],
      [2, cat(f('PUBLISH', Buffer.from([0, 0xff, 13, 10]), Buffer.from([13, 10, 0])), f('PUBLISH', Buffer.from([1, 2]), Buffer.alloc(70_000, 7)))],
    ],
  },
  {
    name: 'PUBSUB introspection and errors',
    clients: [false, false],
    steps: [
      [0, f('SUBSCRIBE', 'x1', 'x2')],
      [1, cat(f('PUBSUB', 'NUMSUB'), f('PUBSUB', 'NUMSUB', 'x1', 'x2', 'x3'), f('PUBSUB', 'CHANNELS', 'x1'), f('PUBSUB', 'CHANNELS', 'x', 'y'), f('PUBSUB', 'NUMPAT'))],
      [1, cat(f('PUBSUB'), f('PUBSUB', 'nosuch'), f('PUBSUB', 'NUMPAT', 'x'), f('SUBSCRIBE'), f('PSUBSCRIBE'), f('PUBLISH', 'a'), f('PUBLISH', 'a', 'b', 'c'))],
    ],
  },
];

/** Patterns for PUBSUB CHANNELS: Redis's glob, corner cases included. */
const CHANNELS = ['hello', 'hallo', 'hxllo', 'hllo', 'heeello', 'h*llo', 'a[b', 'a\\b', 'abc', 'ab', 'a', 'x-y', 'b', '\u00e9t\u00e9', 'z]', '[', 'A', 'aBc'];
const PATTERNS = [
  '*', 'h*llo', 'h?llo', 'h[ae]llo', 'h[^e]llo', 'h[a-b]llo', 'h[b-a]llo', 'h\\*llo', 'a[b', 'a[', 'a\\', 'a\\b', 'a[\\]]', '*b*', '?', '??',
  '[a-c]', 'x[-]y', 'x[a-]y', '*[', '[]', 'z]', '\\[', 'a*c', '*o', '**', '*\u00e9*', '[\u00e0-\u00ff]*', 'A*', 'a[B]c', '[^a]',
];

describe.skipIf(!existsSync(REDIS_SERVER))('pub/sub against redis-server, byte for byte', { timeout: 60_000 }, () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let ours: PubsubServer;

  beforeAll(async () => {
    [redis, ours] = await Promise.all([startRedis(), startPubsubServer()]);
  });
  afterAll(async () => {
    await redis?.close();
    await ours?.close();
  });

  for (const script of SCRIPTS) {
    it(script.name, async () => {
      const theirs = await run(redis.port, script);
      const mine = await run(ours.port, script);
      expect(mine).toEqual(theirs);
    });
  }

  it('matches channels against patterns exactly as Redis does (PUBSUB CHANNELS)', async () => {
    const channels = (port: number) => async () => {
      const sub = await ScriptClient.open(port);
      const ask = await ScriptClient.open(port);
      try {
        await sub.send(f('SUBSCRIBE', ...CHANNELS.map((c) => Buffer.from(c, 'utf8'))));
        const out: string[][] = [];
        for (const p of PATTERNS) {
          const before = ask.frames().length;
          await ask.send(f('PUBSUB', 'CHANNELS', Buffer.from(p, 'utf8')));
          out.push((text(ask.frames()[before]) as string[]).sort());
        }
        return out;
      } finally {
        sub.close();
        ask.close();
      }
    };
    const theirs = await channels(redis.port)();
    const mine = await channels(ours.port)();
    expect(mine).toEqual(theirs);
  });

  it('QUIT while subscribed answers OK and closes', async () => {
    for (const port of [redis.port, ours.port]) {
      const c = await ScriptClient.open(port);
      await c.send(f('SUBSCRIBE', 'q'));
      c.write(f('QUIT'));
      await c.closed;
      expect(c.received().endsWith('+OK\r\n')).toBe(true);
    }
  });
});
