import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeValue } from '../../src/codec/index.ts';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';
import { type Answer, clientPool, jobdo as callJobs } from './helpers.ts';
import { poll } from '../net/cluster-daemons.ts';
import { type Reply, frame, parseAll, rawClient, text } from '../resp/helpers.ts';

type Pushed = { method: string; arg: string; ref: string };

describe('SUBSCRIBE on a service: push-style workers', { timeout: 60_000 }, () => {
  let s: TreeServer;
  const kp = newKeyPair();
  const service = keyName(kp.publicKey);
  const { clients, client } = clientPool(() => s.port);
  const jobdo = (r: Redis, timeout: number, ...pairs: string[]): Promise<Array<Answer | Error>> => callJobs(r, service, timeout, ...pairs);
  let admin: Redis;
  // Not s.redis: INFO there would wait behind a blocked JOBDO.
  const info = async (): Promise<string> => String(await admin.call('INFO', 'jobs'));

  /** A subscribed connection; `onJob` sees each call pushed to it, decoded. */
  const subscriber = async (onJob: (job: Pushed, sub: Redis) => void): Promise<Redis> => {
    const sub = await client();
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString() !== service) return;
      const [method, arg, ref] = decodeValue(message) as [Uint8Array, Uint8Array, string];
      onJob({ method: Buffer.from(method).toString(), arg: Buffer.from(arg).toString(), ref }, sub);
    });
    await sub.subscribe(service);
    return sub;
  };
  /** A push worker answering each call with `f(arg)` from a second connection (RESP2: the subscribed one may only (un)subscribe). */
  const pushWorker = async (f: (arg: string) => string, seen?: Pushed[]): Promise<Redis> => {
    const answers = await client();
    return subscriber((job) => {
      seen?.push(job);
      void answers.call('JOBRESPOND', job.ref, f(job.arg), kp.privateKey).catch(() => undefined);
    });
  };

  beforeAll(async () => {
    s = await startTreeServer();
    admin = new Redis({ port: s.port, host: '127.0.0.1' });
    expect(await s.redis.call('JOBLOCAL', service, '-1')).toBe('OK');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await poll(async () => (/push_workers:0\r\n/.test(await info()) && /workers_waiting:0\r\n/.test(await info()) ? true : undefined), 100, 20);
  });
  afterAll(async () => {
    admin.disconnect();
    await s.close();
  });

  it('a call arrives as a message [method, arg, ref]; its answer from another connection verifies', async () => {
    const got: Pushed[] = [];
    await pushWorker((a) => String(Number(a) + 1), got);
    expect(await info()).toMatch(/push_workers:1\r\n/);
    const [[response, signature]] = (await jobdo(s.redis, 5000, 'add_one', '41')) as Answer[];
    expect(response.toString()).toBe('42');
    expect(got.map((j) => [j.method, j.arg])).toEqual([['add_one', '41']]);
    expect(await s.redis.call('JOBVERIFY', service, 'add_one', '41', '42', signature, kp.publicKey)).toBe(1);
  });

  it('calls queued before anyone subscribed are pushed once a worker subscribes', async () => {
    const calling = jobdo(s.redis, 5000, 'm', 'early', 'm', 'later');
    await poll(async () => (/jobs_queued:2\r\n/.test(await info()) ? true : undefined), 50, 100);
    await pushWorker((a) => `${a}-done`);
    expect(((await calling) as Answer[]).map(([r]) => r.toString())).toEqual(['early-done', 'later-done']);
  });

  it('each call goes to one worker only, spread over push workers and JOBGET workers alike', async () => {
    const seen: Pushed[][] = [[], [], []];
    for (const list of seen) await pushWorker((a) => `${a}!`, list);
    const puller = await client();
    let pulled = 0;
    void (async () => {
      for (;;) {
        const job = (await puller.callBuffer('JOBGET', service, '0').catch(() => undefined)) as Buffer[] | null | undefined;
        if (job === undefined) return;
        if (job === null) continue;
        pulled++;
        await puller.call('JOBRESPOND', job[2], `${job[1].toString()}!`, kp.privateKey).catch(() => undefined);
      }
    })();
    const args = Array.from({ length: 300 }, (_, i) => String(i));
    const answers = (await jobdo(s.redis, 10_000, ...args.flatMap((a) => ['echo', a]))) as Answer[];
    expect(answers.map(([r]) => r.toString())).toEqual(args.map((a) => `${a}!`));
    const pushed = seen.flat().map((j) => j.arg);
    expect(new Set(pushed).size).toBe(pushed.length);
    expect(pushed.length + pulled).toBe(300);
    for (const list of seen) expect(list.length).toBeGreaterThan(0);
    expect(pulled).toBeGreaterThan(0);
  });

  it('a push worker holds one call at a time: the next comes once it answers', async () => {
    const held: Pushed[] = [];
    await subscriber((job) => held.push(job));
    const calling = jobdo(s.redis, 10_000, 'm', 'a', 'm', 'b');
    await poll(async () => (held.length === 1 && /jobs_queued:1\r\n/.test(await info()) ? true : undefined), 50, 100);
    const answers = await client();
    await answers.call('JOBRESPOND', held[0].ref, 'A', kp.privateKey);
    await poll(async () => (held.length === 2 ? true : undefined), 50, 100);
    await answers.call('JOBRESPOND', held[1].ref, 'B', kp.privateKey);
    expect(((await calling) as Answer[]).map(([r]) => r.toString())).toEqual(['A', 'B']);
  });

  it('a worker that dies with a call fails that call (JOBLOST); the queued one goes to a live worker', async () => {
    const held: Pushed[] = [];
    const doomed = await subscriber((job) => held.push(job));
    const calling = jobdo(s.redis, 10_000, 'm', 'first', 'm', 'second');
    await poll(async () => (held.length === 1 ? true : undefined), 50, 100);
    doomed.disconnect();
    await poll(async () => (/push_workers:0\r\n/.test(await info()) ? true : undefined), 50, 100);
    await pushWorker((a) => `${a}-alive`);
    const [first, second] = await calling;
    expect((first as Error).message).toMatch(/^JOBLOST/);
    expect((second as Answer)[0].toString()).toBe('second-alive');
    expect(held.map((j) => j.arg)).toEqual(['first']);
  });

  it('UNSUBSCRIBE stops new calls; the call it holds stays answerable', async () => {
    const held: Pushed[] = [];
    const sub = await subscriber((job) => held.push(job));
    const calling = jobdo(s.redis, 10_000, 'm', 'kept', 'm', 'elsewhere');
    await poll(async () => (held.length === 1 ? true : undefined), 50, 100);
    await sub.unsubscribe(service);
    expect(await info()).toMatch(/push_workers:0\r\n/);
    const puller = await client();
    const job = (await puller.callBuffer('JOBGET', service, '5000')) as Buffer[];
    expect(job[1].toString()).toBe('elsewhere');
    await puller.call('JOBRESPOND', job[2], 'E', kp.privateKey);
    await puller.call('JOBRESPOND', held[0].ref, 'K', kp.privateKey);
    expect(((await calling) as Answer[]).map(([r]) => r.toString())).toEqual(['K', 'E']);
    expect(held).toHaveLength(1);
  });

  it('RESP3: the call is a push frame, answered on the worker\'s own connection; RESET drops the one it holds with JOBLOST', async () => {
    const raw = await rawClient(s.port);
    const replies = (): Reply[] => parseAll(raw.received());
    const until = (ok: (all: Reply[]) => boolean): Promise<unknown> => poll(async () => (ok(replies()) ? true : undefined), 20, 250);
    raw.socket.write(Buffer.concat([frame('HELLO', '3'), frame('SUBSCRIBE', service)]));
    await until((all) => all.length === 2);
    const calling = jobdo(s.redis, 10_000, 'm', 'x', 'm', 'y');
    await until((all) => all.length === 3);
    const [kind, channel, payload] = replies()[2] as Buffer[];
    expect([kind.toString(), channel.toString()]).toEqual(['message', service]);
    // A push frame (`>`), not an array: RESP3 clients route it to their pub/sub handler.
    expect(raw.received().toString('latin1')).toContain(`>3\r\n$7\r\nmessage\r\n`);
    const [, , ref] = decodeValue(payload) as [Uint8Array, Uint8Array, string];
    raw.socket.write(frame('JOBRESPOND', ref, 'X', kp.privateKey));
    await until((all) => all.length === 5);
    // The next call, pushed while JOBRESPOND was in flight, follows its reply.
    expect(text(replies()[3])).toBe('OK');
    expect((replies()[4] as Buffer[]).map((b) => b.toString()).slice(0, 2)).toEqual(['message', service]);
    raw.socket.write(frame('RESET'));
    const [first, second] = await calling;
    expect((first as Answer)[0].toString()).toBe('X');
    expect((second as Error).message).toMatch(/^JOBLOST/);
    raw.socket.destroy();
  });

  it('a channel that is not a service Name stays plain pub/sub', async () => {
    const sub = await client();
    await sub.subscribe('news');
    expect(await info()).toMatch(/push_workers:0\r\n/);
    expect(await s.redis.call('PUBLISH', 'news', 'hi')).toBe(1);
  });
});
