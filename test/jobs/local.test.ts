import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyText, newKeyPair } from '../../src/net/identity.ts';
import { keyName } from '../../src/net/identity.ts';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';
import { type Answer, clientPool, jobdo as callJobs } from './helpers.ts';
import { poll } from '../net/cluster-daemons.ts';


describe('the local job queue', { timeout: 60_000 }, () => {
  let s: TreeServer;
  const kp = newKeyPair();
  const service = keyName(kp.publicKey);
  const { clients, client } = clientPool(() => s.port);
  const jobdo = (r: Redis, timeout: number, ...pairs: string[]): Promise<Array<Answer | Error>> => callJobs(r, service, timeout, ...pairs);
  const jobget = (r: Redis, timeout: number): Promise<[Buffer, Buffer, Buffer] | null> =>
    r.callBuffer('JOBGET', service, String(timeout)) as Promise<[Buffer, Buffer, Buffer] | null>;
  /** A worker that answers every job with `f(arg)`, until its connection is closed. */
  const worker = async (f: (arg: string) => string, counts?: Map<Redis, number>): Promise<Redis> => {
    const r = await client();
    void (async () => {
      for (;;) {
        let job: [Buffer, Buffer, Buffer] | null;
        try {
          job = await jobget(r, 0);
        } catch {
          return;
        }
        if (job === null) continue;
        counts?.set(r, (counts.get(r) ?? 0) + 1);
        await r.call('JOBRESPOND', job[2], f(job[1].toString()), kp.privateKey).catch(() => undefined);
      }
    })();
    return r;
  };

  beforeAll(async () => {
    s = await startTreeServer();
    expect(await s.redis.call('JOBLOCAL', service, '-1')).toBe('OK');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    // The next test starts once the daemon has seen every worker go.
    await poll(async () => (/workers_waiting:0\r\n/.test(String(await s.redis.call('INFO', 'jobs'))) ? true : undefined), 100, 20);
  });
  afterAll(() => s.close());

  it('a call goes to a blocked worker and its answer verifies', async () => {
    const w = await client();
    const taking = jobget(w, 0);
    // The blocked worker holds no one else up.
    expect(await s.redis.call('PING')).toBe('PONG');
    const calling = jobdo(s.redis, 5000, 'add_one', '41');
    const [method, arg, ref] = (await taking)!;
    expect([method.toString(), arg.toString()]).toEqual(['add_one', '41']);
    expect(await w.call('JOBRESPOND', ref, '42', kp.privateKey)).toBe('OK');
    const [[response, signature]] = (await calling) as Answer[];
    expect(response.toString()).toBe('42');
    expect(signature.length).toBe(80);
    expect(await s.redis.call('JOBVERIFY', service, 'add_one', '41', '42', signature, kp.publicKey)).toBe(1);
    expect(await s.redis.call('JOBVERIFY', service, 'add_one', '41', '42', signature, keyText(kp.publicKey))).toBe(1);
    // Answered once: a second answer finds nothing.
    await expect(w.call('JOBRESPOND', ref, '43', kp.privateKey)).rejects.toThrow(/^NOJOB/);
  });

  it('signatures: a tampered response, a wrong key, shifted fields and a replayed answer do not verify', async () => {
    await worker((a) => String(Number(a) + 1));
    const [[r1, sig1]] = (await jobdo(s.redis, 5000, 'add_one', '1')) as Answer[];
    const [[r2, sig2]] = (await jobdo(s.redis, 5000, 'add_one', '1')) as Answer[];
    expect(r1.toString()).toBe('2');
    expect(r2.toString()).toBe('2');
    const verify = (...args: Array<string | Buffer>): Promise<unknown> => s.redis.call('JOBVERIFY', service, ...args);
    expect(await verify('add_one', '1', '2', sig1, kp.publicKey)).toBe(1);
    expect(await verify('add_one', '1', '3', sig1, kp.publicKey)).toBe(0);
    const other = newKeyPair();
    expect(await verify('add_one', '1', '2', sig1, other.publicKey)).toBe(0);
    expect(await s.redis.call('JOBVERIFY', keyName(other.publicKey), 'add_one', '1', '2', sig1, other.publicKey)).toBe(0);
    expect(await verify('add_on', 'e1', '2', sig1, kp.publicKey)).toBe(0);
    const flipped = Buffer.from(sig1);
    flipped[40] ^= 1;
    expect(await verify('add_one', '1', '2', flipped, kp.publicKey)).toBe(0);
    // Each call chose its own nonce: the first answer replayed for the second call fails.
    const nonce2 = sig2.subarray(0, 16);
    expect(Buffer.compare(nonce2, sig1.subarray(0, 16))).not.toBe(0);
    expect(await verify('add_one', '1', '2', sig2, kp.publicKey, 'NONCE', nonce2)).toBe(1);
    expect(await verify('add_one', '1', '2', sig1, kp.publicKey, 'NONCE', nonce2)).toBe(0);
  });

  it('JOBGET times out with nil; JOBDO with a TIMEOUT error for its call', async () => {
    const w = await client();
    expect(await jobget(w, 100)).toBeNull();
    const [r] = await jobdo(s.redis, 100, 'm', 'a');
    expect((r as Error).message).toMatch(/^TIMEOUT/);
    // The timed-out call was dropped, not left for the next worker.
    expect(await jobget(w, 100)).toBeNull();
  });

  it('many workers: every call answered once, in the order asked, spread over the workers', async () => {
    const counts = new Map<Redis, number>();
    for (let i = 0; i < 4; i++) await worker((a) => `${a}!`, counts);
    const args = Array.from({ length: 200 }, (_, i) => String(i));
    const answers = (await jobdo(s.redis, 10_000, ...args.flatMap((a) => ['echo', a]))) as Answer[];
    expect(answers.map(([r]) => r.toString())).toEqual(args.map((a) => `${a}!`));
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(200);
    expect(counts.size).toBe(4);
  });

  it('answers out of order, from another connection, land on their own calls', async () => {
    const w = await client();
    const calling = jobdo(s.redis, 5000, 'm', 'a', 'm', 'b', 'm', 'c');
    const jobs = [(await jobget(w, 0))!, (await jobget(w, 0))!, (await jobget(w, 0))!];
    const other = await client();
    for (const j of jobs.reverse()) await other.call('JOBRESPOND', j[2], `${j[1].toString()}-done`, kp.privateKey);
    expect(((await calling) as Answer[]).map(([r]) => r.toString())).toEqual(['a-done', 'b-done', 'c-done']);
  });

  it('a worker that dies with a job in hand fails that call at once, and the job goes to no one else', async () => {
    const w = await client();
    const calling = jobdo(s.redis, 30_000, 'm', 'x');
    expect(await jobget(w, 0)).not.toBeNull();
    const w2 = await client();
    const second = jobget(w2, 500);
    w.disconnect();
    const [r] = await calling;
    expect((r as Error).message).toMatch(/^JOBLOST/);
    expect(await second).toBeNull();
  });

  it('a worker that closes while blocked frees its wait: the job goes to a live worker', async () => {
    const dead = await client();
    void jobget(dead, 0).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    dead.disconnect();
    await new Promise((r) => setTimeout(r, 50));
    await worker(() => 'alive');
    const [[r]] = (await jobdo(s.redis, 5000, 'm', 'a')) as Answer[];
    expect(r.toString()).toBe('alive');
  });

  it('a caller that goes away has its calls dropped before any worker sees them', async () => {
    const c = await client();
    void jobdo(c, 30_000, 'm', 'gone').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    c.disconnect();
    await new Promise((r) => setTimeout(r, 50));
    const w = await client();
    expect(await jobget(w, 200)).toBeNull();
  });

  it('a full queue refuses the calls past its bound with QUEUEFULL', async () => {
    const pairs = Array.from({ length: 10_001 }, (_, i) => ['m', String(i)]).flat();
    const results = await jobdo(s.redis, 200, ...pairs);
    expect((results[9_999] as Error).message).toMatch(/^TIMEOUT/);
    expect((results[10_000] as Error).message).toMatch(/^QUEUEFULL/);
    expect(await s.redis.call('PING')).toBe('PONG');
  });

  it('CLIENT UNBLOCK ends a JOBGET wait as a timeout (nil) or, with ERROR, an UNBLOCKED error', async () => {
    const w = await client();
    const id = String(await w.client('ID'));
    const waiting = jobget(w, 0);
    await poll(async () => (/flags=b/.test(String(await s.redis.call('CLIENT', 'LIST', 'ID', id))) ? true : undefined), 100, 20);
    expect(await s.redis.call('CLIENT', 'UNBLOCK', id)).toBe(1);
    expect(await waiting).toBeNull();
    expect(await s.redis.call('CLIENT', 'UNBLOCK', id)).toBe(0);
    const again = jobget(w, 0);
    await poll(async () => (/flags=b/.test(String(await s.redis.call('CLIENT', 'LIST', 'ID', id))) ? true : undefined), 100, 20);
    expect(await s.redis.call('CLIENT', 'UNBLOCK', id, 'ERROR')).toBe(1);
    await expect(again).rejects.toThrow(/^UNBLOCKED client unblocked via CLIENT UNBLOCK/);
    // The wait is gone from the queue: a call goes to a live worker, not to the unblocked one.
    await worker(() => 'live');
    const [[r]] = (await jobdo(s.redis, 5000, 'm', 'a')) as Answer[];
    expect(r.toString()).toBe('live');
    await expect(s.redis.call('CLIENT', 'UNBLOCK', id, 'LATER')).rejects.toThrow(/TIMEOUT or ERROR/);
    expect(await s.redis.call('CLIENT', 'UNBLOCK', '999999')).toBe(0);
  });

  it('CLIENT KILL closes a blocked worker (its wait freed, the call it held JOBLOST); SKIPME, the old form', async () => {
    const holder = await client();
    const holderId = String(await holder.client('ID'));
    // Not on s.redis: the CLIENT commands below would wait behind the blocked JOBDO.
    const calling = jobdo(await client(), 10_000, 'm', 'held');
    expect(await jobget(holder, 0)).not.toBeNull();
    const blocked = await client();
    const blockedId = String(await blocked.client('ID'));
    void jobget(blocked, 0).catch(() => undefined);
    await poll(async () => (/flags=b/.test(String(await s.redis.call('CLIENT', 'LIST', 'ID', blockedId))) ? true : undefined), 100, 20);
    expect(await s.redis.call('CLIENT', 'KILL', 'ID', blockedId)).toBe(1);
    expect(await s.redis.call('CLIENT', 'KILL', 'ID', holderId, 'TYPE', 'normal')).toBe(1);
    expect(((await calling)[0] as Error).message).toMatch(/^JOBLOST/);
    await worker(() => 'after');
    const [[r]] = (await jobdo(s.redis, 5000, 'm', 'b')) as Answer[];
    expect(r.toString()).toBe('after');
    const me = await client();
    const meId = String(await me.client('ID'));
    expect(await me.call('CLIENT', 'KILL', 'ID', meId)).toBe(0);
    const addr = /addr=(\S+)/.exec(String(await me.client('INFO')))![1];
    const other = await client();
    expect(await other.call('CLIENT', 'KILL', addr)).toBe('OK');
    await expect(other.call('CLIENT', 'KILL', addr)).rejects.toThrow(/^ERR No such client/);
    await expect(other.call('CLIENT', 'KILL', 'ID', '1', 'SKIPME')).rejects.toThrow(/syntax error/);
    await expect(other.call('CLIENT', 'KILL', 'USER', 'nobody')).rejects.toThrow(/^ERR No such user 'nobody'/);
  });

  it('refuses bad input clearly', async () => {
    await expect(s.redis.call('JOBDO', keyName(newKeyPair().publicKey), '100', 'm', 'a').then((r) => String((r as Error[])[0]))).resolves.toMatch(/NOSERVICE/);
    await expect(s.redis.call('JOBLOCAL', 'not-a-key', '100')).rejects.toThrow(/^BADSERVICE/);
    await expect(s.redis.call('JOBDO', service, '100', 'm', 'a', 'm2')).rejects.toThrow(/method arg pairs/);
    const w = await client();
    const calling = jobdo(s.redis, 5000, 'm', 'a');
    const job = (await jobget(w, 0))!;
    await expect(w.call('JOBRESPOND', job[2], 'x', newKeyPair().privateKey)).rejects.toThrow(/^BADKEY/);
    await expect(w.call('JOBRESPOND', job[2], 'x', 'NoSuchKeyName')).rejects.toThrow(/^NOKEY/);
    await w.call('JOBRESPOND', job[2], 'x', kp.privateKey);
    expect(((await calling) as Answer[])[0][0].toString()).toBe('x');
    const services = async (): Promise<string | undefined> => /job_services:(\d+)/.exec(String(await s.redis.call('INFO', 'jobs')))?.[1];
    const before = await services();
    expect(await s.redis.call('JOBGET', keyName(newKeyPair().publicKey), '50')).toBeNull();
    // A made-up name waited on and given up leaves nothing behind.
    expect(await services()).toBe(before);
    const info = String(await s.redis.call('INFO', 'jobs'));
    expect(info).toMatch(/jobs_in_hand:0/);
    expect(info).toContain(`service_${service}:accepted=1`);
  });
});
