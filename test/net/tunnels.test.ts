import { readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster, renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../../src/net/identity.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';
import { fetchVia, freePort, httpService, patternBytes, sha256hex, slowVia } from './tunnel-fixtures.ts';

const TOKEN = '123';
const PASS = 'SECRETPASS-1f9a';

describe('TCP tunnels between two daemons', { timeout: 240_000 }, () => {
  const cluster = newCluster();
  const kp = newKeyPair();
  const name = keyName(kp.publicKey);
  let a: TestDaemon;
  let b: TestDaemon;
  let http: { server: Server; port: number };
  let local: number;

  beforeAll(async () => {
    http = await httpService();
    [a, b] = await startDaemons(2, { args: ['--log-level', 'info'], env: { TUNNEL_TOKEN: TOKEN } });
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    await writeFile(join(a.keysDir, 'my_tunnel.yaml'), renderKeyPair(kp));
    expect(await a.redis().call('TUNNELANNOUNCE', cluster.name, name)).toBe('OK');
    expect(await a.redis().call('TUNNELALLOW', TOKEN, cluster.name, name, PASS, '127.0.0.1', String(http.port))).toBe('OK');
    local = await freePort();
    await poll(async () => ((await b.redis().call('TUNNELOPEN', cluster.name, name, PASS, String(local), '127.0.0.1', String(http.port))) === 'OK' ? true : undefined));
  }, 120_000);
  afterAll(async () => {
    await cleanupDaemons();
    http?.server.close();
  });

  it('carries an HTTP exchange, a 64 MiB body and a 16 MiB upload intact', async () => {
    const hello = await fetchVia(local, '/');
    expect(hello.body.toString()).toBe('hello');
    const big = await fetchVia(local, `/big?n=${64 * 1024 * 1024}`);
    expect(big.body.length).toBe(64 * 1024 * 1024);
    expect(sha256hex(big.body)).toBe(sha256hex(patternBytes(64 * 1024 * 1024)));
    const up = patternBytes(16 * 1024 * 1024);
    expect((await fetchVia(local, '/echo', up)).body.toString()).toBe(`${up.length} ${sha256hex(up)}`);
  });

  it('carries 100 concurrent connections', async () => {
    const n = 256 * 1024;
    const want = sha256hex(patternBytes(n));
    const got = await Promise.all(Array.from({ length: 100 }, () => fetchVia(local, `/big?n=${n}`)));
    for (const g of got) expect(sha256hex(g.body)).toBe(want);
    const info = String(await b.redis().call('INFO', 'tunnels'));
    expect(info).toMatch(/tunnels_open:1/);
    expect(Number(/tunnel_connections_total:(\d+)/.exec(info)?.[1])).toBeGreaterThanOrEqual(100);
  });

  it('holds the serving side back while the client stops reading (back-pressure end to end)', async () => {
    const served = async (): Promise<number> => Number(/served_bytes_sent:(\d+)/.exec(String(await a.redis().call('INFO', 'tunnels')))?.[1]);
    const before = await served();
    const socket = connect(local, '127.0.0.1');
    let got = 0;
    let limit = 16 * 1024 * 1024;
    // Reading first, so every buffer on the way has drained a few times, then not at all.
    socket.on('data', (c: Buffer) => {
      got += c.length;
      if (got > limit) socket.pause();
    });
    socket.write('GET /endless HTTP/1.1\r\nHost: x\r\n\r\n');
    await poll(async () => (got > limit ? true : undefined), 200, 50);
    await new Promise((r) => setTimeout(r, 2000));
    // In flight: the Yamux window, the socket thresholds, the kernel's buffers; the source never ends.
    expect((await served()) - before - got).toBeLessThan(64 * 1024 * 1024);
    limit = Infinity;
    socket.resume();
    const resumedAt = got;
    await poll(async () => (got > resumedAt + 64 * 1024 * 1024 ? true : undefined), 400, 50);
    socket.destroy();
  });

  it('answers an HTTP/1.1 client that half-closes its write side', async () => {
    const socket = connect(local, '127.0.0.1');
    const parts: Buffer[] = [];
    socket.on('data', (c: Buffer) => parts.push(c));
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await ended;
    const text = Buffer.concat(parts).toString();
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.endsWith('hello')).toBe(true);
  });

  it('refuses TUNNELALLOW without TUNNEL_TOKEN or with another token', async () => {
    const c = await startDaemons(1);
    await expect(c[0].redis().call('TUNNELALLOW', TOKEN, cluster.name, name, PASS, '127.0.0.1', '80')).rejects.toThrow(/^NOPERM tunnels are not served here/);
    await expect(a.redis().call('TUNNELALLOW', '124', cluster.name, name, PASS, '127.0.0.1', '80')).rejects.toThrow(/^NOPERM wrong tunnel token/);
    await expect(a.redis().call('TUNNELALLOW', '', cluster.name, name, PASS, '127.0.0.1', '80')).rejects.toThrow(/^NOPERM wrong tunnel token/);
    await c[0].stop();
  });

  it('tells a wrong passphrase nothing, and a right one which check failed; logs neither', async () => {
    const rb = b.redis();
    const spare = await freePort();
    const open = (pass: string, host: string, port: number): Promise<unknown> => rb.call('TUNNELOPEN', cluster.name, name, pass, String(spare), host, String(port));
    await expect(open('WRONG-7c1e', '127.0.0.1', http.port)).rejects.toThrow(/^REFUSED the serving peer refused the tunnel$/);
    await expect(open('WRONG-7c1e', '127.0.0.1', http.port + 1)).rejects.toThrow(/^REFUSED the serving peer refused the tunnel$/);
    await expect(open(PASS, '127.0.0.1', http.port + 1)).rejects.toThrow(/^NOTALLOWED .*127\.0\.0\.1:\d+/);
    await expect(open(PASS, 'localhost', http.port)).rejects.toThrow(/^NOTALLOWED/);
    await expect(rb.call('TUNNELOPEN', cluster.name, keyName(newKeyPair().publicKey), PASS, String(spare), '127.0.0.1', String(http.port))).rejects.toThrow(/^NOPROVIDER/);
    await expect(rb.call('TUNNELOPEN', cluster.name, name, PASS, String(local), '127.0.0.1', String(http.port))).rejects.toThrow(/already listens on local port/);
    await expect(rb.call('TUNNELOPEN', cluster.name, name, PASS, String(http.port), '127.0.0.1', String(http.port))).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    await expect(rb.call('TUNNELOPEN', cluster.name, 'not-a-name', PASS, String(spare), '127.0.0.1', String(http.port))).rejects.toThrow(/tunnel Name is not base58|must be 32 bytes/);
    await expect(rb.call('TUNNELOPEN', cluster.name, name, PASS, '0', '127.0.0.1', String(http.port))).rejects.toThrow(/local_port must be an integer from 1 to 65535/);
    expect(a.stderr()).toContain('tunnel refused');
    for (const log of [a.stderr(), b.stderr()]) {
      expect(log).not.toContain('WRONG-7c1e');
      expect(log).not.toContain(PASS);
    }
    expect(await readFile(join(a.dataDir, 'tunnels.json'), 'utf8')).not.toContain(PASS);
  });

  it('holds an entry to its connection limit', async () => {
    const second = await httpService();
    try {
      expect(await a.redis().call('TUNNELALLOW', TOKEN, cluster.name, name, PASS, '127.0.0.1', String(second.port), '1')).toBe('OK');
      const port2 = await freePort();
      expect(await b.redis().call('TUNNELOPEN', cluster.name, name, PASS, String(port2), '127.0.0.1', String(second.port))).toBe('OK');
      const held = await slowVia(port2);
      await expect(fetchVia(port2, '/')).rejects.toThrow();
      expect(b.stderr()).toMatch(/"code":"LIMIT"/);
      second.server.closeAllConnections();
      expect(await held.ended).toBe('broken');
      await poll(async () => ((await fetchVia(port2, '/')).body.toString() === 'hello' ? true : undefined), 50, 100);
      expect(await b.redis().call('TUNNELCLOSE', String(port2))).toBe(1);
      expect(await b.redis().call('TUNNELCLOSE', String(port2))).toBe(0);
      expect(await a.redis().call('TUNNELDISALLOW', TOKEN, cluster.name, name, '127.0.0.1', String(second.port))).toBe(1);
    } finally {
      second.server.close();
    }
  });

  it('cuts live connections on TUNNELDISALLOW and refuses new ones', async () => {
    const held = await slowVia(local);
    expect(await a.redis().call('TUNNELDISALLOW', TOKEN, cluster.name, name, '127.0.0.1', String(http.port))).toBe(1);
    expect(await held.ended).toBe('broken');
    await expect(fetchVia(local, '/')).rejects.toThrow();
    expect(await a.redis().call('TUNNELDISALLOW', TOKEN, cluster.name, name, '127.0.0.1', String(http.port))).toBe(0);
    expect(await a.redis().call('TUNNELALLOW', TOKEN, cluster.name, name, PASS, '127.0.0.1', String(http.port))).toBe('OK');
    expect((await fetchVia(local, '/')).body.toString()).toBe('hello');
  });

  it('checks the passphrase of every new connection: a changed one refuses the old', async () => {
    expect((await fetchVia(local, '/')).body.toString()).toBe('hello');
    expect(await a.redis().call('TUNNELALLOW', TOKEN, cluster.name, name, 'NEWPASS-41d2', '127.0.0.1', String(http.port))).toBe('OK');
    await expect(fetchVia(local, '/')).rejects.toThrow();
    expect(b.stderr()).toMatch(/"code":"REFUSED"/);
    expect(await a.redis().call('TUNNELALLOW', TOKEN, cluster.name, name, PASS, '127.0.0.1', String(http.port))).toBe('OK');
    expect((await fetchVia(local, '/')).body.toString()).toBe('hello');
  });

  it('keeps its entries and announcement across a restart of the serving daemon', async () => {
    await a.stop();
    await a.restart();
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    await poll(async () => ((await fetchVia(local, '/')).body.toString() === 'hello' ? true : undefined));
    const list = (await a.redis().call('TUNNELLIST')) as unknown[];
    expect(JSON.stringify(list)).toContain(name);
    expect(JSON.stringify(list)).not.toContain(PASS);
  });

  it('gives the client a broken connection, not a hang, when the serving daemon dies mid-transfer', async () => {
    const held = await slowVia(local);
    await a.kill('SIGKILL');
    expect(await held.ended).toBe('broken');
  });
});
