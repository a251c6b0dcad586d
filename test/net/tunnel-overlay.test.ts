import { writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { OVERLAY_NAME } from '../../src/net/overlay.ts';
import { type TestDaemon, cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, poll } from './cluster-daemons.ts';
import { fetchVia, freePort, httpService } from './tunnel-fixtures.ts';

/** The session: a tunnel announced and opened on the default overlay, through the CLI. */
describe('a tunnel through ^defaultcluster', { timeout: 180_000 }, () => {
  let a: TestDaemon;
  let b: TestDaemon;
  let http: { server: Server; port: number };

  beforeAll(async () => {
    http = await httpService();
    a = await startDaemon({ env: { TUNNEL_TOKEN: '123' } });
    const overlayAddr = (await poll(() => clusterInfo(a.redis(), OVERLAY_NAME))).listen.split('|')[0];
    b = await startDaemon({ args: ['--bootstrap', overlayAddr] });
    await poll(async () => (Number((await clusterInfo(b.redis(), OVERLAY_NAME))?.peers ?? 0) >= 1 ? true : undefined));
  }, 90_000);
  afterAll(async () => {
    await cleanupDaemons();
    http?.server.close();
  });

  it('serves B\'s local port from A\'s HTTP server', async () => {
    const kp = newKeyPair();
    const name = keyName(kp.publicKey);
    await writeFile(join(a.keysDir, 'my_tunnel.yaml'), renderKeyPair(kp));
    const onA = (args: string[]) => cli(args, { env: daemonEnv(a) });
    const onB = (args: string[]) => cli(args, { env: daemonEnv(b) });
    expect((await onA(['tunnel_announce', '^defaultcluster', name])).code).toBe(0);
    expect((await onA(['tunnel_allow', '123', '^defaultcluster', name, 'SECRETPASS', '127.0.0.1', String(http.port)])).code).toBe(0);
    const local = await freePort();
    // The announcement reaches B's view of the overlay DHT after a moment.
    await poll(async () => ((await onB(['tunnel_open', '^defaultcluster', name, 'SECRETPASS', String(local), '127.0.0.1', String(http.port)])).code === 0 ? true : undefined));
    expect((await fetchVia(local, '/')).body.toString()).toBe('hello');
    expect((await onB(['tunnel_close', String(local)])).code).toBe(0);
    await expect(fetchVia(local, '/')).rejects.toThrow();
  });
});
