import { writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { PeerId, Startable } from '@libp2p/interface';
import type { Registrar } from '@libp2p/interface-internal';
import { lpStream } from '@libp2p/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster, renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyName, keyText, newKeyPair, signEd25519 } from '../../src/net/identity.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { MAX_HANDSHAKE_FRAME, TUNNEL_PROTOCOL, decodeHello, encodeProof, nameBytes, proofMessage, tunnelCid } from '../../src/net/tunnel-wire.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';
import { member } from './helpers.ts';
import { fetchVia, freePort, httpService } from './tunnel-fixtures.ts';

const TOKEN = 't0ken';
const PASS = 'impostor-test-pass';

interface Seen {
  hellos: Map<string, number>;
  auths: number;
}

/**
 * Fault injection, in test code: a member that announces Names whose private key it lacks.
 * For the stolen Name it presents the Name's real public key with a signature by another key; for
 * every other Name it presents a key of its own, correctly signed (a key that is not the Name's).
 */
function impostor(stolen: Buffer, seen: Seen): (c: { registrar: Registrar; peerId: PeerId }) => Startable {
  const own = newKeyPair();
  const stolenName = keyName(stolen);
  return ({ registrar, peerId }) => ({
    async start() {
      await registrar.handle(TUNNEL_PROTOCOL, async (stream, connection) => {
        const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_FRAME });
        const hello = decodeHello((await lp.read()).subarray());
        const name = keyText(hello.name);
        seen.hellos.set(name, (seen.hellos.get(name) ?? 0) + 1);
        const sig = signEd25519(own.privateKey, proofMessage(hello, connection.remotePeer.toMultihash().bytes, peerId.toMultihash().bytes));
        await lp.write(encodeProof(name === stolenName ? stolen : own.publicKey, sig));
        try {
          await lp.read({ signal: AbortSignal.timeout(5000) });
          seen.auths++;
        } catch {
          // The client hung up after the proof, as it must.
        }
      });
    },
    async stop() {
      await registrar.unhandle(TUNNEL_PROTOCOL);
    },
  });
}

describe('a peer announcing a tunnel Name without its key', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  const honest = newKeyPair();
  const honestName = keyName(honest.publicKey);
  const stolen = newKeyPair();
  const stolenName = keyName(stolen.publicKey);
  const foreignName = keyName(newKeyPair().publicKey);
  const seen: Seen = { hellos: new Map(), auths: 0 };
  let a: TestDaemon;
  let b: TestDaemon;
  let liar: ClusterNode;
  let http: { server: Server; port: number };

  beforeAll(async () => {
    http = await httpService();
    [a, b] = await startDaemons(2, { args: ['--log-level', 'info'], env: { TUNNEL_TOKEN: TOKEN } });
    const addr = await joinCluster(a, cluster);
    liar = await member({ ...cluster, bootstrap: [addr] }, { impostor: impostor(stolen.publicKey, seen) });
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '2' ? true : undefined));
    for (const n of [honestName, stolenName, foreignName]) {
      await liar.libp2p.contentRouting.provide(tunnelCid(nameBytes(n)), { signal: AbortSignal.timeout(20_000) });
    }
    await writeFile(join(a.keysDir, 'honest.yaml'), renderKeyPair(honest));
    expect(await a.redis().call('TUNNELANNOUNCE', cluster.name, honestName)).toBe('OK');
    expect(await a.redis().call('TUNNELALLOW', TOKEN, cluster.name, honestName, PASS, '127.0.0.1', String(http.port))).toBe('OK');
  }, 120_000);
  afterAll(async () => {
    await liar?.stop();
    await cleanupDaemons();
    http?.server.close();
  });

  it('gets no passphrase and no connection, whether its signature or its key is wrong', async () => {
    const rb = b.redis();
    for (const n of [stolenName, foreignName]) {
      await expect(rb.call('TUNNELOPEN', cluster.name, n, PASS, String(await freePort()), '127.0.0.1', String(http.port))).rejects.toThrow(/^NOPROVIDER/);
      expect(seen.hellos.get(n)).toBeGreaterThan(0);
    }
    expect(seen.auths).toBe(0);
    expect(b.stderr()).toContain('tunnel provider failed to prove the key; skipped');
  });

  it('is skipped for the peer that proves the key', async () => {
    const local = await freePort();
    await poll(async () => ((await b.redis().call('TUNNELOPEN', cluster.name, honestName, PASS, String(local), '127.0.0.1', String(http.port))) === 'OK' ? true : undefined));
    expect((await fetchVia(local, '/')).body.toString()).toBe('hello');
    expect(seen.auths).toBe(0);
  });
});
