import { randomBytes } from 'node:crypto';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { JOBS_PROTOCOL, encodeCall } from '../../src/net/job-service.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { joinCluster } from '../net/cluster-daemons.ts';
import { member } from '../net/helpers.ts';

describe('a call id sent twice to one provider', { timeout: 60_000 }, () => {
  const cluster = newCluster();
  const kp = newKeyPair();
  const service = keyName(kp.publicKey);
  let p: TestDaemon;
  let caller: ClusterNode;
  let addr: string;
  let taken = 0;

  beforeAll(async () => {
    [p] = await startDaemons(1, { args: ['--overlay', 'off'] });
    addr = await joinCluster(p, cluster);
    expect(await p.redis().call('JOBANNOUNCE', cluster.name, service, '600000')).toBe('OK');
    const w = p.redis({ maxRetriesPerRequest: 0, retryStrategy: () => null });
    void (async () => {
      for (;;) {
        const job = (await w.callBuffer('JOBGET', service, '0').catch(() => undefined)) as Buffer[] | undefined;
        if (job === undefined) return;
        taken++;
        // Slow enough that the second copy arrives while the first is in hand.
        await new Promise((r) => setTimeout(r, 300));
        await w.call('JOBRESPOND', job[2], 'answer', kp.privateKey).catch(() => undefined);
      }
    })();
    caller = await member({ ...cluster, bootstrap: [addr] });
  }, 45_000);
  afterAll(async () => {
    await caller?.stop();
    await cleanupDaemons();
  });

  it('runs once: both copies get the one answer', async () => {
    const req = { callId: randomBytes(16), nonce: randomBytes(16), service, method: Buffer.from('m'), arg: Buffer.from('a'), timeoutMs: 10_000 };
    // Two streams, as after a reconnect: the provider must not queue the call twice.
    const send = async (): Promise<Buffer> => {
      const stream = await caller.libp2p.dialProtocol(multiaddr(addr), JOBS_PROTOCOL, { signal: AbortSignal.timeout(10_000) });
      const lp = lpStream(stream);
      await lp.write(encodeCall(req));
      return Buffer.from((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray());
    };
    const [a, b] = await Promise.all([send(), send()]);
    for (const frame of [a, b]) {
      expect(frame[0]).toBe(0x02);
      expect(frame.subarray(1, 17).equals(req.callId)).toBe(true);
      expect(frame.subarray(1 + 16 + 32 + 80).toString()).toBe('answer');
    }
    expect(taken).toBe(1);
    expect(String(await p.redis().call('INFO', 'jobs'))).toMatch(/jobs_duplicate_calls:1\r\n/);
  });
});
