import type { Connection, Reply } from './client.ts';
import { type ProgressStream, startProgress } from './progress.ts';

/** How often the watching connection asks the daemon how far the clone got. */
const POLL_MS = 250;

/** The cluster's `bytes_fetched` counter from `INFO cluster`, or undefined while the cluster is not running. */
export async function bytesFetched(watch: Connection, cluster: string): Promise<number | undefined> {
  const reply = await watch.call('INFO', 'cluster');
  const text = Buffer.isBuffer(reply) ? reply.toString() : '';
  const line = text.split('\r\n').find((l) => l.startsWith(`${cluster}:`));
  const m = line === undefined ? null : /(?:^|,)bytes_fetched=(\d+)/.exec(line.slice(cluster.length + 1));
  return m === null ? undefined : Number(m[1]);
}

/**
 * `REMOTE cluster num PERSIST root ttl` on `main`, drawing a progress line from a second
 * connection meanwhile: the daemon answers PERSIST only when the clone is done, so `watch`
 * polls the cluster's bytes_fetched counter (a cluster-wide figure: other transfers of the
 * same cluster running at the same time count too) against the tree's size, which the root
 * states (BYTESWRITTEN, read remotely, one block). Without `watch` there is no line.
 */
export async function persistWithProgress(
  main: Connection, watch: Connection | undefined, args: { cluster: string; num: number; root: string; ttl: number; label: string },
  stream: ProgressStream = process.stderr,
): Promise<Reply> {
  const persist = (): Promise<Reply> => main.call('REMOTE', args.cluster, String(args.num), 'PERSIST', args.root, String(args.ttl));
  if (watch === undefined) return persist();
  // A size the daemon cannot tell yet leaves the line without a bar; PERSIST reports the real failure, if any.
  const size = await watch.call('REMOTENOLOCAL', args.cluster, String(args.num), 'BYTESWRITTEN', args.root).catch(() => null);
  const base = (await bytesFetched(watch, args.cluster).catch(() => undefined)) ?? 0;
  const bar = startProgress(args.label, typeof size === 'number' ? size : undefined, stream);
  let done = 0;
  let polling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      const now = await bytesFetched(watch, args.cluster).catch(() => undefined);
      if (now !== undefined) bar.update((done = Math.max(done, now - base)));
    });
  }, POLL_MS);
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await polling;
  };
  try {
    const reply = await persist();
    await stop();
    const total = Array.isArray(reply) ? reply[reply.findIndex((r) => Buffer.isBuffer(r) && r.toString() === 'bytes') + 1] : undefined;
    if (typeof total === 'number') bar.update(Math.max(done, total), true);
    return reply;
  } finally {
    await stop();
    bar.finish();
  }
}
