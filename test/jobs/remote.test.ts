import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster, renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { MAIN, NODE } from '../harness/paths.ts';
import { run } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from '../net/cluster-daemons.ts';

type Answer = [Buffer, Buffer];

describe('remote jobs between daemons', { timeout: 240_000 }, () => {
  const cluster = newCluster();
  const kp = newKeyPair();
  const service = keyName(kp.publicKey);
  let p1: TestDaemon;
  let p2: TestDaemon;
  let c: TestDaemon;
  const served = new Map<TestDaemon, number>();
  let delayMs = 0;

  /** Workers on a provider answering `arg+1`, signing with the key Name from its keys dir. */
  const workers = (d: TestDaemon, n: number): void => {
    for (let i = 0; i < n; i++) {
      const r: Redis = d.redis({ maxRetriesPerRequest: 0, retryStrategy: () => null });
      void (async () => {
        for (;;) {
          let job: Buffer[] | null;
          try {
            job = (await r.callBuffer('JOBGET', service, '0')) as Buffer[] | null;
          } catch {
            return;
          }
          if (job === null) continue;
          served.set(d, (served.get(d) ?? 0) + 1);
          if (delayMs > 0) await new Promise((res) => setTimeout(res, delayMs));
          await r.call('JOBRESPOND', job[2], String(Number(job[1].toString()) + 1), service).catch(() => undefined);
        }
      })();
    }
  };
  const remoteDo = (num: number, timeout: number, args: number[]): Promise<Array<Answer | Error>> =>
    c.redis().callBuffer('REMOTE', cluster.name, String(num), 'JOBDO', service, String(timeout), ...args.flatMap((a) => ['add_one', String(a)])) as Promise<Array<Answer | Error>>;

  beforeAll(async () => {
    [p1, p2, c] = await startDaemons(3, { args: ['--log-level', 'info', '--overlay', 'off'] });
    const addr = await joinCluster(p1, cluster);
    await joinCluster(p2, { ...cluster, bootstrap: [addr] });
    await joinCluster(c, { ...cluster, bootstrap: [addr] });
    for (const p of [p1, p2]) {
      await writeFile(join(dirname(p.clustersDir), 'keys', 'svc.yaml'), renderKeyPair(kp));
      workers(p, 4);
    }
    await poll(async () => ((await clusterInfo(c.redis(), cluster.name))?.peers === '2' ? true : undefined));
    for (const p of [p1, p2]) expect(await p.redis().call('JOBANNOUNCE', cluster.name, service, '600000')).toBe('OK');
    // Until the DHT knows both providers, a call may find one.
    await poll(async () => {
      const [r] = await remoteDo(2, 5000, [0]);
      return Array.isArray(r) ? true : undefined;
    });
  }, 200_000);
  afterAll(cleanupDaemons);

  it('calls spread over both providers, every answer signed by the service key', async () => {
    const before = new Map(served);
    const args = Array.from({ length: 60 }, (_, i) => i);
    delayMs = 20;
    const answers = (await remoteDo(2, 30_000, args)) as Answer[];
    delayMs = 0;
    expect(answers.map(([r]) => Number(r.toString()))).toEqual(args.map((a) => a + 1));
    for (const p of [p1, p2]) expect((served.get(p) ?? 0) - (before.get(p) ?? 0)).toBeGreaterThan(0);
    const [r, sig] = answers[7];
    expect(await c.redis().call('JOBVERIFY', service, 'add_one', '7', r, sig, kp.publicKey, 'NONCE', sig.subarray(0, 16))).toBe(1);
    expect(await c.redis().call('JOBVERIFY', service, 'add_one', '8', r, sig, kp.publicKey)).toBe(0);
    const info = String(await c.redis().call('INFO', 'jobs'));
    expect(info).toMatch(new RegExp(`provider_${cluster.name}_12D3\\w+:outstanding=0,served=\\d+`));
    expect(String(await p1.redis().call('INFO', 'jobs'))).toMatch(/jobs_announced:1/);
  });

  it('a provider killed mid-run: every call still answered, or a clear error within its timeout', async () => {
    const before = served.get(p1) ?? 0;
    delayMs = 100;
    const args = Array.from({ length: 40 }, (_, i) => 100 + i);
    const running = remoteDo(2, 60_000, args);
    await poll(async () => ((served.get(p1) ?? 0) > before + 2 ? true : undefined), 500, 10);
    await p1.kill('SIGKILL');
    const results = await running;
    delayMs = 0;
    let answered = 0;
    results.forEach((r, i) => {
      if (Array.isArray(r)) {
        expect(Number(r[0].toString())).toBe(args[i] + 1);
        answered++;
      } else {
        expect(r.message).toMatch(/^(TIMEOUT|JOBLOST|CLOSED)/);
      }
    });
    // Calls in P1's hands when it died went to P2: most of the run was answered.
    expect(answered).toBeGreaterThan(args.length / 2);
    expect(c.stderr()).toContain('job provider failed; trying another');
    expect(String(await c.redis().call('INFO', 'jobs'))).toMatch(/remote_calls_in_flight:0/);
  });

  it('refuses clearly: REMOTE … JOBDO of a service no one provides, bad arguments', async () => {
    const nobody = keyName(newKeyPair().publicKey);
    const [r] = (await c.redis().callBuffer('REMOTE', cluster.name, '1', 'JOBDO', nobody, '1500', 'm', 'a')) as Error[];
    expect(r.message).toMatch(/^(NOSERVICE|TIMEOUT)/);
    await expect(c.redis().call('REMOTE', cluster.name, '1', 'JOBDO', service, '1000', 'm')).rejects.toThrow(/method arg pairs|JOBDO takes/);
    await expect(c.redis().call('JOBANNOUNCE', 'NoSuchCluster', service, '1000')).rejects.toThrow(/^NOCLUSTER/);
  });

  it('the CLI announces and calls across the cluster', async () => {
    const cli = (d: TestDaemon, ...args: string[]): ReturnType<typeof run> => run(NODE, [MAIN, ...args], { env: { CRISSCROSS_PORT: String(d.port) } });
    expect((await cli(p2, 'job_announce', cluster.name, service, '--ttl', '600000')).code).toBe(0);
    const out = await cli(c, 'remote_job_do', cluster.name, service, 'add_one', '5', '--num', '2', '--timeout', '10000');
    expect(out.stderr).toBe('');
    expect(out.stdout.toString()).toBe('6');
  });

  it('announcements survive a restart', async () => {
    await p2.stop();
    await p2.restart();
    workers(p2, 2);
    await poll(async () => ((await clusterInfo(p2.redis(), cluster.name))?.peers !== '0' ? true : undefined));
    expect(String(await p2.redis().call('INFO', 'jobs'))).toMatch(/jobs_announced:1/);
    await poll(async () => {
      const [r] = await remoteDo(1, 5000, [41]);
      return Array.isArray(r) && r[0].toString() === '42' ? true : undefined;
    });
  });
});
