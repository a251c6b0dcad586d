/**
 * The bare cluster link the network benchmarks set their figures against: one libp2p stream
 * between a cluster node in the bench process and one in a child process (this file run with
 * `--sink-node`), the stack the daemons run (TCP, cluster protector, Noise, Yamux), the sender
 * writing 64 KiB pieces and waiting for each `drain` event as the tunnels do (libp2p 3's
 * `onDrain()` resolves at once after the first drain). Also CPU accounting from /proc.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { pino } from 'pino';
import { type Cluster, parseCluster, renderCluster } from '../src/net/cluster-file.ts';
import { newSecret } from '../src/net/identity.ts';
import { ClusterNode } from '../src/net/node.ts';
import { drained } from '../src/net/tunnel-pipe.ts';
import { withCpu } from './measure.ts';
import { NODE } from './serve.ts';

const SINK = '/crisscross-bench/sink/1.0.0';
const CHUNK = 64 * 1024;
const quiet = pino({ level: 'silent' });
const payload = Buffer.alloc(CHUNK, 7);

/** Child mode: a cluster node counting what each sink stream sends; prints its multiaddr. */
async function sinkNode(): Promise<void> {
  let text = '';
  for await (const c of process.stdin) text += String(c);
  const node = await ClusterNode.start({ cluster: parseCluster(text), nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger: quiet });
  await node.libp2p.handle(SINK, async (stream) => {
    let n = 0;
    for await (const chunk of stream) n += chunk.byteLength;
    stream.send(Buffer.from(String(n)));
    await stream.close();
  });
  console.log(node.multiaddrs()[0]);
}

/** `bytes` over the bare link: MB/s, and the CPU seconds per GB the two ends used (this process and the child). */
export async function bareLink(cluster: Cluster, bytes: number): Promise<[number, number]> {
  const child = spawn(NODE, [fileURLToPath(import.meta.url), '--sink-node'], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.end(renderCluster(cluster));
  const addr = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  const node = await ClusterNode.start({ cluster, nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger: quiet });
  try {
    const stream: Stream = await node.libp2p.dialProtocol(multiaddr(addr), SINK, { signal: AbortSignal.timeout(10_000) });
    const start = performance.now();
    const [, cpu] = await withCpu([process.pid, child.pid as number], async () => {
      for (let off = 0; off < bytes; off += CHUNK) if (!stream.send(payload)) await drained(stream);
      await stream.close({ signal: AbortSignal.timeout(60_000) });
      let reply = '';
      for await (const c of stream) reply += Buffer.from(c.subarray()).toString();
      if (Number(reply) < bytes) throw new Error(`bare link sink got ${reply} of ${bytes}`);
    });
    return [bytes / 1e6 / ((performance.now() - start) / 1000), cpu / (bytes / 1e9)];
  } finally {
    await node.stop();
    child.kill();
  }
}

if (process.argv[2] === '--sink-node') await sinkNode();
