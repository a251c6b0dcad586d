/**
 * `node bench/tunnel.ts [MiB] [connections]` (defaults 512, 100): a TCP tunnel between two real
 * daemons (child processes, one cluster on 127.0.0.1) against, in the same run:
 *  - a direct loopback TCP connection to the same sink;
 *  - the bare cluster link: one libp2p stream between two cluster nodes in two processes (this
 *    one and a child), the same stack the daemons run (TCP, cluster protector, Noise, Yamux).
 * Bulk: one connection sends MiB in 64 KiB writes honouring back-pressure, half-closes, and
 * waits for the sink's byte count. Setup: 200 sequential connections, each timed from connect()
 * to the first echoed byte (p50/p99). Concurrent: `connections` connections at once sending
 * MiB/connections each; aggregate MB/s. Also the CPU seconds per GB of the bulk transfer: both
 * ends of the bare link, both daemons of the tunnel (the TCP ends in this process excluded),
 * which a loaded machine distorts less than wall-clock rates. Prints one JSON line.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type Cluster, newCluster, renderCluster, renderKeyPair } from '../src/net/cluster-file.ts';
import { keyName, newKeyPair } from '../src/net/identity.ts';
import { bareLink } from './bare-link.ts';
import { withCpu } from './measure.ts';
import { startDaemon } from './serve.ts';

const CHUNK = 64 * 1024;
const SETUPS = 200;
const payload = Buffer.alloc(CHUNK, 7);

/** Writes `bytes` to a socket with back-pressure, half-closes, resolves with the sink's reply. */
function sendOver(socket: Socket, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let reply = '';
    socket.on('data', (c: Buffer) => (reply += c.toString()));
    socket.on('end', () => resolve(Number(reply)));
    socket.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        sent += CHUNK;
        if (!socket.write(payload)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    socket.once('connect', pump);
  });
}

/** A TCP sink: counts what each connection sends, answers the count when it half-closes; echoes a first byte `?`. */
async function tcpSink(): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (c: Buffer) => {
      if (n === 0 && c.length === 1 && c[0] === 0x3f) return void s.end('?');
      n += c.length;
    });
    s.on('end', () => s.end(String(n)));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return (server.address() as AddressInfo).port;
}

async function bulk(port: number, bytes: number): Promise<number> {
  const start = performance.now();
  const got = await sendOver(connect({ port, host: '127.0.0.1', allowHalfOpen: true }), bytes);
  if (got < bytes) throw new Error(`sink got ${got} of ${bytes} bytes`);
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

async function concurrent(port: number, bytes: number, n: number): Promise<number> {
  const each = Math.ceil(bytes / n / CHUNK) * CHUNK;
  const start = performance.now();
  const got = await Promise.all(Array.from({ length: n }, () => sendOver(connect({ port, host: '127.0.0.1', allowHalfOpen: true }), each)));
  if (got.some((g) => g < each)) throw new Error('a concurrent connection lost bytes');
  return (each * n) / 1e6 / ((performance.now() - start) / 1000);
}

function setupOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const s = connect({ port, host: '127.0.0.1' }, () => s.write('?'));
    s.once('data', () => {
      resolve(performance.now() - start);
      s.destroy();
    });
    s.on('error', reject);
  });
}

async function setup(port: number): Promise<{ p50: number; p99: number }> {
  const t: number[] = [];
  for (let i = 0; i < SETUPS; i++) t.push(await setupOnce(port));
  t.sort((x, y) => x - y);
  const at = (q: number): number => Number(t[Math.min(t.length - 1, Math.floor(q * t.length))].toFixed(2));
  return { p50: at(0.5), p99: at(0.99) };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Two daemons in one cluster, A serving the sink through a tunnel, B listening for it; the local port. */
async function tunnel(cluster: Cluster, sinkPort: number, dirs: string[]): Promise<{ port: number; pids: number[]; close: () => Promise<void> }> {
  const [da, db] = dirs;
  const a = await startDaemon(da, { TUNNEL_TOKEN: 'bench' });
  const b = await startDaemon(db);
  const ra = new Redis({ port: a.port, host: '127.0.0.1' });
  const rb = new Redis({ port: b.port, host: '127.0.0.1' });
  // This cluster's line: INFO cluster also lists the default overlay.
  const listen = async (r: Redis): Promise<string> => {
    const info = String(await r.call('INFO', 'cluster'));
    return new RegExp(`${cluster.name}:listen=([^,|\r]+)`).exec(info)?.[1] ?? '';
  };
  await writeFile(join(da, 'clusters', 'c.yaml'), renderCluster(cluster));
  const addr = await until(async () => (await listen(ra)) || undefined, 'the serving node');
  await writeFile(join(db, 'clusters', 'c.yaml'), renderCluster({ ...cluster, bootstrap: [addr] }));
  const kp = newKeyPair();
  const name = keyName(kp.publicKey);
  await writeFile(join(da, 'keys', 'k.yaml'), renderKeyPair(kp));
  await until(async () => ((await listen(rb)) ? true : undefined), 'the client node');
  await ra.call('TUNNELANNOUNCE', cluster.name, name);
  await ra.call('TUNNELALLOW', 'bench', cluster.name, name, 'benchpass', '127.0.0.1', String(sinkPort), '1024');
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  await until(async () => ((await rb.call('TUNNELOPEN', cluster.name, name, 'benchpass', String(port), '127.0.0.1', String(sinkPort))) === 'OK' ? true : undefined), 'TUNNELOPEN');
  return {
    port,
    pids: [a.pid, b.pid],
    close: async () => {
      ra.disconnect();
      rb.disconnect();
      await Promise.all([a.close(), b.close()]);
    },
  };
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 512);
  const conns = Number(process.argv[3] ?? 100);
  const bytes = mib * 1024 * 1024;
  const cluster = newCluster();
  const sinkPort = await tcpSink();
  const dirs = await Promise.all([mkdtemp(join(tmpdir(), 'tunnel-bench-a-')), mkdtemp(join(tmpdir(), 'tunnel-bench-b-'))]);
  const t = await tunnel(cluster, sinkPort, dirs);
  try {
    const load = loadavg()[0];
    const directMBs = await bulk(sinkPort, bytes);
    const [bareMBs, bareCpu] = await bareLink(cluster, bytes);
    const [tunnelMBs, tunnelCpu] = await withCpu(t.pids, () => bulk(t.port, bytes));
    const directSetup = await setup(sinkPort);
    const tunnelSetup = await setup(t.port);
    const directConcurrentMBs = await concurrent(sinkPort, bytes, conns);
    const tunnelConcurrentMBs = await concurrent(t.port, bytes, conns);
    const r = (x: number): number => Math.round(x);
    console.log(JSON.stringify({
      mib, conns, load1: Number(load.toFixed(2)),
      directMBs: r(directMBs), bareLinkMBs: r(bareMBs), tunnelMBs: r(tunnelMBs),
      tunnelVsBare: Number((tunnelMBs / bareMBs).toFixed(2)), tunnelVsDirect: Number((tunnelMBs / directMBs).toFixed(2)),
      cpuSecondsPerGB: { bareLinkBothEnds: Number(bareCpu.toFixed(2)), tunnelBothDaemons: Number((tunnelCpu / (bytes / 1e9)).toFixed(2)) },
      setupMs: { direct: directSetup, tunnel: tunnelSetup },
      concurrentMBs: { direct: r(directConcurrentMBs), tunnel: r(tunnelConcurrentMBs) },
    }));
  } finally {
    await t.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

await main();
