import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/cli/client.ts';
import { bytesFetched, persistWithProgress } from '../../src/cli/clone-progress.ts';
import { formatBytes, type ProgressStream } from '../../src/cli/progress.ts';
import { newCluster } from '../../src/net/cluster-file.ts';
import { type TestDaemon, cleanupDaemons, startDaemons } from '../harness/daemon.ts';
import { clusterInfo, joinCluster, poll } from '../net/cluster-daemons.ts';

/** Stands in for a terminal's stderr, keeping what was drawn. */
function terminal(): ProgressStream & { out: string } {
  return {
    isTTY: true,
    columns: 120,
    out: '',
    write(text) {
      this.out += text;
      return true;
    },
  };
}

describe('the clone progress line (remote_persist)', { timeout: 180_000 }, () => {
  const cluster = newCluster();
  let a: TestDaemon;
  let b: TestDaemon;
  let root: string;
  const conns: Connection[] = [];
  const open = async (d: TestDaemon): Promise<Connection> => {
    const c = await connect({ host: d.host, port: d.port });
    conns.push(c);
    return c;
  };

  beforeAll(async () => {
    [a, b] = await startDaemons(2);
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));
    const pairs = Array.from({ length: 3000 }, (_, i) => [`key${i}`, `${i} ${'v'.repeat(1500)}`]).flat();
    root = String(await a.redis().call('PUTMULTIBIN', '', '-1', ...pairs));
    await a.redis().call('ANNOUNCE', cluster.name, root, '-1');
    await poll(async () => ((await b.redis().call('REMOTENOLOCAL', cluster.name, '1', 'KEYCOUNT', root)) === 3000 ? true : undefined));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await cleanupDaemons();
  });

  it('draws the bytes the daemon fetched against the tree\'s size, ends at 100% and clears the line', async () => {
    const size = Number(await a.redis().call('BYTESWRITTEN', root));
    const [main, watch] = [await open(b), await open(b)];
    const base = await bytesFetched(watch, cluster.name);
    const stream = terminal();
    const reply = await persistWithProgress(main, watch, { cluster: cluster.name, num: 1, root, ttl: -1, label: 'my tree' }, stream);
    const fields = reply as Array<Buffer | number>;
    const bytes = fields[fields.findIndex((f) => Buffer.isBuffer(f) && f.toString() === 'bytes') + 1] as number;
    expect(bytes).toBeGreaterThan(4_000_000);
    // The line's source: the cluster's bytes_fetched counter moved by what the clone fetched, give
    // or take the root (the size read may fetch it; the clone may take it from the memory cache).
    const moved = ((await bytesFetched(watch, cluster.name)) ?? 0) - (base ?? 0);
    expect(Math.abs(moved - bytes)).toBeLessThan(16 * 1024);
    const lines = stream.out.split('\r').filter((l) => l !== '' && l !== '\x1b[K');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toContain(`my tree [`);
    expect(lines.at(-1)).toContain(`100%  ${formatBytes(bytes)} / ${formatBytes(size)}`);
    expect(stream.out.endsWith('\r\x1b[K')).toBe(true);
    expect(await b.redis().call('KEYCOUNT', root)).toBe(3000);
  });

  it('without a watching connection it only clones; an unknown cluster has no counter', async () => {
    const tree = String(await a.redis().call('PUTMULTIBIN', '', '-1', 'small', 'tree'));
    await a.redis().call('ANNOUNCE', cluster.name, tree, '-1');
    const main = await open(b);
    const reply = await poll(async () => persistWithProgress(main, undefined, { cluster: cluster.name, num: 1, root: tree, ttl: -1, label: 't' }, terminal()));
    expect(Array.isArray(reply)).toBe(true);
    expect(String(await b.redis().call('FETCHBIN', tree, 'small'))).toBe('tree');
    expect(await bytesFetched(main, 'NoSuchCluster')).toBeUndefined();
  });
});
