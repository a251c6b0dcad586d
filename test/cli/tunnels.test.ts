import { writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster, renderCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from '../net/cluster-daemons.ts';
import { fetchVia, freePort, httpService } from '../net/tunnel-fixtures.ts';

describe('tunnel_* subcommands', { timeout: 120_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let http: { server: Server; port: number };

  beforeAll(async () => {
    http = await httpService();
    [a, b] = await startDaemons(2, { env: { TUNNEL_TOKEN: '123' } });
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
  }, 60_000);
  afterAll(async () => {
    await cleanupDaemons();
    http?.server.close();
  });

  it('announce, allow, open, reach the service, close, disallow: the issue\'s session', async () => {
    const base = dirname(a.keysDir);
    await writeFile(join(base, 'cluster.yaml'), renderCluster(cluster));
    const kp = await cli(['keypair']);
    await writeFile(join(a.keysDir, 'my_tunnel.yaml'), kp.stdout);
    const name = /Name: (\S+)/.exec(kp.stdout.toString())![1];
    const onA = { env: daemonEnv(a), cwd: base };
    const clusterRef = '*cluster.yaml#Name';
    const keyRef = '*keys/my_tunnel.yaml#Name';
    expect((await cli(['tunnel_announce', clusterRef, keyRef], onA)).code).toBe(0);
    expect((await cli(['tunnel_allow', '123', clusterRef, keyRef, 'SECRETPASS', '127.0.0.1', String(http.port)], onA)).code).toBe(0);
    const wrong = await cli(['tunnel_allow', '124', clusterRef, keyRef, 'SECRETPASS', '127.0.0.1', String(http.port)], onA);
    expect([wrong.code, wrong.stderr]).toEqual([3, expect.stringMatching(/NOPERM|wrong tunnel token/)]);
    const local = await freePort();
    const onB = { env: daemonEnv(b), cwd: base };
    await poll(async () => {
      const r = await cli(['tunnel_open', clusterRef, name, 'SECRETPASS', String(local), '127.0.0.1', String(http.port)], onB);
      return r.code === 0 ? r : undefined;
    }, 30, 500);
    expect((await fetchVia(local, '/')).body.toString()).toBe('hello');
    expect((await cli(['tunnel_close', String(local)], onB)).stdout.toString()).toBe('closed\n');
    await expect(fetchVia(local, '/')).rejects.toThrow();
    expect((await cli(['tunnel_disallow', '123', clusterRef, keyRef, '127.0.0.1', String(http.port)], onA)).stdout.toString()).toBe('removed\n');
  });
});
