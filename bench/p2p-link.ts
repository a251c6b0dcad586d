/**
 * `node bench/p2p-link.ts [MiB]`: one stream between two libp2p nodes on loopback, TCP + Noise +
 * Yamux, without and with the cluster connection protector, in the same run. Prints MB/s of
 * each and their ratio: what the protector costs the block exchange at most. The sender waits
 * for each `drain` event (libp2p 3's `onDrain()` resolves at once after the first drain).
 */
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { type Libp2p, createLibp2p } from 'libp2p';
import { clusterPsk } from '../src/net/cluster-file.ts';
import { newSecret } from '../src/net/identity.ts';
import { clusterProtector } from '../src/net/protector.ts';
import { drained } from '../src/net/tunnel-pipe.ts';

const PROTO = '/crisscross-bench/sink/1.0.0';
const CHUNK = 64 * 1024;
const mib = Number(process.argv[2] ?? 512);

async function pair(psk: Uint8Array | undefined): Promise<[Libp2p, Libp2p]> {
  const make = (): Promise<Libp2p> => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    ...(psk === undefined ? {} : { connectionProtector: clusterProtector(psk) }),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 2 * 1024 * 1024 } })],
  });
  return [await make(), await make()];
}

async function measure(psk: Uint8Array | undefined): Promise<number> {
  const [a, b] = await pair(psk);
  const total = mib * 1024 * 1024;
  const done = new Promise<void>((resolve) => {
    void a.handle(PROTO, async (stream) => {
      let n = 0;
      for await (const chunk of stream) n += chunk.byteLength;
      if (n === total) resolve();
      await stream.close();
    });
  });
  const stream = await b.dialProtocol(a.getMultiaddrs(), PROTO, { signal: AbortSignal.timeout(10_000) });
  const buf = Buffer.alloc(CHUNK, 7);
  const start = performance.now();
  for (let off = 0; off < total; off += CHUNK) if (!stream.send(buf)) await drained(stream);
  await stream.close({ signal: AbortSignal.timeout(60_000) });
  await done;
  const mbs = total / 1e6 / ((performance.now() - start) / 1000);
  await Promise.all([a.stop(), b.stop()]);
  return mbs;
}

const plain = await measure(undefined);
const protectedLink = await measure(clusterPsk(newSecret()));
console.log(JSON.stringify({ mib, plainMBs: Math.round(plain), protectedMBs: Math.round(protectedLink), ratio: Number((protectedLink / plain).toFixed(2)) }));
