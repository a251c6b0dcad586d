import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDaemon, cleanupDaemons, clientReady, startDaemon } from '../harness/daemon.ts';
import { frame, parseAll, rawClient } from '../resp/helpers.ts';
import { collect, runWorker } from './stream-helpers.ts';

describe('streams on one daemon', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(cleanupDaemons);

  it('results come back in order to whoever PSUBSCRIBEd the ref, and STREAMSTOP ends it', async () => {
    const worker = d.redis();
    void runWorker(worker, 'echo');
    const producer = d.redis();
    await expect(producer.call('STREAMSTART', 'nobody-serves-this')).rejects.toThrow(/NOWORKER/);
    // The worker registers with its first STREAMGET.
    let ref = '';
    for (let i = 0; i < 50 && ref === ''; i++) ref = String(await producer.call('STREAMSTART', 'echo').catch(() => ''));
    expect(ref).toMatch(/^stream:[0-9a-f]{24}:\*$/);
    const sub = d.redis();
    await clientReady(sub);
    const got = collect(sub, ref);
    await sub.psubscribe(ref);
    const seqs: number[] = [];
    for (let i = 0; i < 300; i++) seqs.push((await producer.call('STREAMSEND', ref, 'm', `v${i}`, '5000')) as number);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    for (let i = 0; i < 200 && got.results.length < 300; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got.results).toEqual(Array.from({ length: 300 }, (_, i) => [`${ref.slice(0, -1)}${i + 1}`, `m:v${i}`]));
    expect(await producer.call('STREAMSTOP', ref)).toBe('OK');
    expect(await got.ended).toBe('stopped');
    await expect(producer.call('STREAMSEND', ref, 'm', 'late', '100')).rejects.toThrow(/CLOSED/);
    const info = String(await producer.call('INFO', 'pubsub'));
    expect(info).toMatch(/stream_results_delivered:300/);
    worker.disconnect();
  });

  it('a consumer that stops reading stops the producer (bounded), and it resumes when the consumer reads', async () => {
    const worker = d.redis();
    void runWorker(worker, 'big', () => Buffer.alloc(64 * 1024, 97));
    const producer = d.redis();
    let ref = '';
    for (let i = 0; i < 50 && ref === ''; i++) ref = String(await producer.call('STREAMSTART', 'big').catch(() => ''));
    const slow = await rawClient(d.port);
    slow.socket.write(frame('PSUBSCRIBE', ref));
    await slow.waitForBytes(1);
    slow.socket.pause();
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 2000; i++) {
      try {
        await producer.call('STREAMSEND', ref, 'm', 'x', '300');
        accepted++;
      } catch (e) {
        refused = e;
        break;
      }
    }
    // 64 in the window plus what the consumer's kernel buffers and 1 MiB high-water mark hold (64 KiB results).
    expect(String(refused)).toMatch(/TIMEOUT/);
    expect(accepted).toBeLessThan(400);
    slow.socket.resume();
    for (let i = 0; i < 20; i++) await producer.call('STREAMSEND', ref, 'm', 'x', '10000');
    await producer.call('STREAMSTOP', ref);
    const all = await (async () => {
      for (let i = 0; i < 500; i++) {
        const frames = parseAll(slow.received());
        if (frames.some((f) => Array.isArray(f) && String(f[2]).endsWith(':end'))) return frames;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('no end');
    })();
    // In order from the first; STREAMSTOP ends at once, so the answers still in the window are not delivered.
    const results = all.slice(1, -1) as Buffer[][];
    expect(results.map((f) => String(f[2]))).toEqual(results.map((_, i) => `${ref.slice(0, -1)}${i + 1}`));
    expect(results.length).toBeGreaterThanOrEqual(accepted + 20 - 64);
    expect(String((all.at(-1) as Buffer[])[3])).toBe('stopped');
    slow.socket.destroy();
    worker.disconnect();
  });

  it('ends clearly when the worker or the producer goes away', async () => {
    const worker = d.redis();
    void runWorker(worker, 'fragile');
    const producer = d.redis();
    let ref = '';
    for (let i = 0; i < 50 && ref === ''; i++) ref = String(await producer.call('STREAMSTART', 'fragile').catch(() => ''));
    const sub = d.redis();
    await clientReady(sub);
    const got = collect(sub, ref);
    await sub.psubscribe(ref);
    await producer.call('STREAMSEND', ref, 'm', 'one', '1000');
    for (let i = 0; i < 100 && got.results.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    worker.disconnect();
    expect(await got.ended).toBe('worker gone');
    await expect(producer.call('STREAMSEND', ref, 'm', 'two', '1000')).rejects.toThrow(/CLOSED/);

    const worker2 = d.redis();
    void runWorker(worker2, 'fragile');
    const producer2 = d.redis();
    let ref2 = '';
    for (let i = 0; i < 50 && ref2 === ''; i++) ref2 = String(await producer2.call('STREAMSTART', 'fragile').catch(() => ''));
    const got2 = collect(sub, ref2);
    await sub.psubscribe(ref2);
    producer2.disconnect();
    expect(await got2.ended).toBe('producer gone');
    worker2.disconnect();
  });
});
