import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceKey } from '../../src/jobs/announce.ts';
import { rootCid } from '../../src/net/announce.ts';
import { newCluster } from '../../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { type JobService, type RemoteAnswer, jobService } from '../../src/net/job-service.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from '../net/cluster-daemons.ts';
import { member, quiet } from '../net/helpers.ts';

describe('a provider that replays a recorded answer', { timeout: 120_000 }, () => {
  const cluster = newCluster();
  const kp = newKeyPair();
  const service = keyName(kp.publicKey);
  let b: TestDaemon;
  let liar: ClusterNode<{ jobs: JobService }>;
  let recorded: RemoteAnswer;
  let replayed = 0;

  beforeAll(async () => {
    [b] = await startDaemons(1, { args: ['--log-level', 'info', '--overlay', 'off'] });
    const addr = await joinCluster(b, cluster);
    // A genuine answer to add_one 41, signed by the service key for an earlier call.
    const rb = b.redis();
    await rb.call('JOBLOCAL', service, '-1');
    const w = b.redis();
    const calling = rb.callBuffer('JOBDO', service, '5000', 'add_one', '41') as Promise<Buffer[][]>;
    const job = (await w.callBuffer('JOBGET', service, '0')) as Buffer[];
    await w.call('JOBRESPOND', job[2], '42', kp.privateKey);
    const [[response, signature]] = await calling;
    recorded = { response, signature, publicKey: kp.publicKey };
    // Fault injection lives here, in test code: every call gets that old answer back.
    const handler = { handle: async () => (replayed++, recorded) };
    liar = await member({ ...cluster, bootstrap: [addr] }, { jobs: jobService({ cluster: cluster.name, handler, logger: quiet }) });
    await poll(async () => ((await clusterInfo(rb, cluster.name))?.peers === '1' ? true : undefined));
    await liar.libp2p.contentRouting.provide(rootCid(serviceKey(service)), { signal: AbortSignal.timeout(20_000) });
  }, 90_000);
  afterAll(async () => {
    await liar?.stop();
    await cleanupDaemons();
  });

  it('is refused by the caller: the answer does not bind this call\'s nonce', async () => {
    // Until the DHT holds the liar's record, the lookup finds no provider (NOSERVICE).
    const r = await poll(async () => {
      const [res] = (await b.redis().callBuffer('REMOTE', cluster.name, '1', 'JOBDO', service, '5000', 'add_one', '41')) as Error[];
      return replayed > 0 ? res : undefined;
    });
    expect(r).toBeInstanceOf(Error);
    expect(r.message).toMatch(/^BADANSWER/);
    expect(b.stderr()).toContain('dropped a provider whose answer does not verify');
    expect(String(await b.redis().call('INFO', 'jobs'))).toMatch(/jobs_rejected_answers:1\r\n/);
  });
});
