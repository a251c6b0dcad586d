import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { withBitswap } from '@helia/bitswap';
import { withLibp2pLight } from '@helia/libp2p';
import { unixfs } from '@helia/unixfs';
import { identify } from '@libp2p/identify';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import { FsBlockstore } from 'blockstore-fs';
import { MemoryDatastore } from 'datastore-core';
import { createHeliaLight } from 'helia';
import { CID } from 'multiformats/cid';

/**
 * The bitswap peer of bench/clusters.ts, in a light loopback-only configuration: Helia with
 * blockstore-fs, libp2p on TCP 127.0.0.1 + Noise + Yamux + identify (which bitswap's topology
 * needs), bitswap as the only block broker, no routers, no HTTP, no DHT.
 *   node bench/helia/bitswap.ts serve STORE FILE   adds FILE (default importer), prints {addr, cid}, serves until stdin closes
 *   node bench/helia/bitswap.ts fetch STORE ADDR CID   dials ADDR, pins CID (fetching every block over bitswap), prints {ms, blocks}
 */

const [mode, store, ...rest] = process.argv.slice(2);
if ((mode !== 'serve' && mode !== 'fetch') || store === undefined || rest.length < 1) {
  process.stderr.write('usage: node bench/helia/bitswap.ts serve STORE FILE | fetch STORE ADDR CID\n');
  process.exit(2);
}

const blockstore = new FsBlockstore(store);
await blockstore.open();
const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore, datastore: new MemoryDatastore() }), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() },
}));
await helia.start();

if (mode === 'serve') {
  const cid = await unixfs(helia).addByteStream(createReadStream(rest[0], { highWaterMark: 1 << 20 }));
  process.stdout.write(`${JSON.stringify({ addr: helia.libp2p.getMultiaddrs()[0].toString(), cid: cid.toString() })}\n`);
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).on('close', resolve));
} else {
  await helia.libp2p.dial(multiaddr(rest[0]), { signal: AbortSignal.timeout(10_000) });
  const t0 = performance.now();
  let blocks = 0;
  for await (const c of helia.pins.add(CID.parse(rest[1]), { signal: AbortSignal.timeout(3_600_000) })) {
    void c;
    blocks++;
  }
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, blocks })}\n`);
}
await helia.stop();
