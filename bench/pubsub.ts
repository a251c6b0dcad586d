/**
 * `node bench/pubsub.ts [messages]`: pub/sub and streams.
 *  1. PUBLISH → one subscriber on one server, crisscross against redis-server in the same run:
 *     a raw publisher pipelines PUBLISH in windows of 256 and a raw subscriber counts the
 *     message frames; messages/s from the first PUBLISH to the last frame received.
 *  2. A stream between two daemons of one cluster: the producer on B pipelines STREAMSEND, a
 *     worker on A answers each message with a payload of the given size (32 STREAMGETs in
 *     flight on one connection, STREAMRESPOND pipelined on another), a subscriber on B counts
 *     the results.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { newCluster, renderCluster } from '../src/net/cluster-file.ts';
import { startRedis } from './redis.ts';
import { startDaemon } from './serve.ts';

const messages = Number(process.argv[2] ?? 200_000);
const WINDOW = 256;

function frame(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

async function socket(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  s.setNoDelay(true);
  return s;
}

/** Resolves once `bytes` more bytes arrived on `s`. */
function counter(s: Socket): { until(bytes: number): Promise<void> } {
  let got = 0;
  let want = Infinity;
  let wake = (): void => undefined;
  s.on('data', (c: Buffer) => {
    got += c.length;
    if (got >= want) wake();
  });
  return {
    until(bytes) {
      want = got + bytes;
      return got >= want ? Promise.resolve() : new Promise((resolve) => (wake = resolve));
    },
  };
}

async function publishRate(port: number, payload: Buffer): Promise<number> {
  const sub = await socket(port);
  const subCount = counter(sub);
  const confirm = frame('SUBSCRIBE', 'bench');
  sub.write(confirm);
  await subCount.until(Buffer.from('*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n').length);
  const pub = await socket(port);
  const pubCount = counter(pub);
  const one = frame('PUBLISH', 'bench', payload);
  const batch = Buffer.concat(Array.from({ length: WINDOW }, () => one));
  const msgFrame = `*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$${payload.length}\r\n`.length + payload.length + 2;
  const received = subCount.until(msgFrame * messages);
  const start = performance.now();
  for (let sent = 0; sent < messages; sent += WINDOW) {
    const acked = pubCount.until(4 * WINDOW);
    pub.write(batch);
    await acked;
  }
  await received;
  const rate = messages / ((performance.now() - start) / 1000);
  sub.destroy();
  pub.destroy();
  return rate;
}

async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met');
}

async function peers(r: Redis, name: string): Promise<number> {
  const line = String(await r.call('INFO', 'cluster')).split('\r\n').find((l) => l.startsWith(`${name}:`));
  return Number(/peers=(\d+)/.exec(line ?? '')?.[1] ?? 0);
}

async function streamRate(a: Redis[], b: Redis[], cluster: string, port: number, size: number, count: number): Promise<{ msgs: number; bytes: number }> {
  const [getter, responder] = a;
  const [producer] = b;
  const service = `bench-${size}`;
  const result = Buffer.alloc(size, 120);
  let stop = false;
  // 32 STREAMGETs in flight on the worker's connection: it takes messages as fast as they come, not one per round trip.
  const worker = Promise.all(Array.from({ length: 32 }, async () => {
    while (!stop) {
      const m = (await getter.callBuffer('STREAMGET', service, '200')) as [Buffer, number, Buffer, Buffer] | null;
      if (m !== null) void responder.call('STREAMRESPOND', m[0], String(m[1]), result).catch(() => undefined);
    }
  }));
  // Awaited at the end; a failure meanwhile must not crash the run and strand the daemons.
  worker.catch(() => undefined);
  const ref = await waitFor(async () => String(await producer.call('REMOTE', cluster, '1', 'STREAMSTART', service)));
  const sub = await socket(port);
  const subCount = counter(sub);
  const pattern = Buffer.from(ref);
  sub.write(frame('PSUBSCRIBE', pattern));
  await subCount.until(`*3\r\n$10\r\npsubscribe\r\n$${pattern.length}\r\n`.length + pattern.length + 2 + 4);
  const base = ref.slice(0, -1);
  let expected = 0;
  for (let seq = 1; seq <= count; seq++) {
    const channel = `${base}${seq}`;
    expected += `*4\r\n$8\r\npmessage\r\n$${pattern.length}\r\n`.length + pattern.length + 2 + `$${channel.length}\r\n`.length + channel.length + 2 + `$${size}\r\n`.length + size + 2;
  }
  const received = subCount.until(expected);
  const start = performance.now();
  const sends: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    sends.push(producer.call('STREAMSEND', ref, 'go', 'x', '60000'));
    if (sends.length >= 1024) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await received;
  const seconds = (performance.now() - start) / 1000;
  await producer.call('STREAMSTOP', ref);
  stop = true;
  await worker;
  sub.destroy();
  return { msgs: count / seconds, bytes: (count * size) / seconds };
}

async function main(): Promise<void> {

  const base = await mkdtemp(join(tmpdir(), 'crisscross-bench-pubsub-'));
  const redis = await startRedis();
  const dirA = join(base, 'a');
  const dirB = join(base, 'b');
  await mkdir(join(dirA, 'clusters'), { recursive: true });
  await mkdir(join(dirB, 'clusters'), { recursive: true });
  const da = await startDaemon(dirA);
  const db = await startDaemon(dirB);
  const clients: Redis[] = [];
  const client = (port: number): Redis => {
    const r = new Redis({ port, host: '127.0.0.1' });
    clients.push(r);
    return r;
  };
  try {
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`| PUBLISH → 1 subscriber (${messages.toLocaleString('en-US')} messages) | crisscross (msg/s) | redis-server (msg/s) | ratio |`);
    console.log('|---|---|---|---|');
    for (const size of [16, 1024]) {
      const payload = Buffer.alloc(size, 97);
      const ours = await publishRate(da.port, payload);
      const theirs = await publishRate(redis.port, payload);
      console.log(`| ${size} B payload | ${Math.round(ours).toLocaleString('en-US')} | ${Math.round(theirs).toLocaleString('en-US')} | ${(ours / theirs).toFixed(2)}× |`);
    }
    const cluster = newCluster();
    const ra = client(da.port);
    const rb = client(db.port);
    await writeFile(join(dirA, 'clusters', 'bench.yaml'), renderCluster(cluster));
    const listen = await waitFor(async () => {
      const line = String(await ra.call('INFO', 'cluster')).split('\r\n').find((l) => l.startsWith(`${cluster.name}:`));
      return /listen=([^,|]+)/.exec(line ?? '')?.[1];
    });
    await writeFile(join(dirB, 'clusters', 'bench.yaml'), renderCluster({ ...cluster, bootstrap: [listen] }));
    await waitFor(async () => ((await peers(rb, cluster.name)) >= 1 ? true : undefined));
    console.log('');
    console.log('| stream, worker on A, producer and subscriber on B | messages | msg/s | result MB/s |');
    console.log('|---|---|---|---|');
    for (const [size, count] of [[1024, Math.round(messages / 10)], [64 * 1024, Math.round(messages / 100)]] as const) {
      const r = await streamRate([client(da.port), client(da.port)], [client(db.port)], cluster.name, db.port, size, count);
      console.log(`| ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} results | ${count.toLocaleString('en-US')} | ${Math.round(r.msgs).toLocaleString('en-US')} | ${(r.bytes / 1e6).toFixed(1)} |`);
    }
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    for (const c of clients) c.disconnect();
    await da.close();
    await db.close();
    await redis.close();
    await rm(base, { recursive: true, force: true });
  }
}

await main();
