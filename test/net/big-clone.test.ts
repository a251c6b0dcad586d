import { createHash, createCipheriv } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import { cleanupDaemons, startDaemons, tempDir } from '../harness/daemon.ts';
import { cli, daemonEnv } from '../harness/run.ts';
import { clusterInfo, joinCluster, poll } from './cluster-daemons.ts';

/**
 * A multi-GiB clone between two daemons, end to end through the CLI. Minutes of work even on an
 * idle machine (upload, clone, download of the whole file), so it runs only with
 * CRISSCROSS_BIG_TRANSFER=1, outside the suite's budget; CRISSCROSS_BIG_TRANSFER_MIB sets the
 * size (default 2048).
 */
const MIB = Number(process.env.CRISSCROSS_BIG_TRANSFER_MIB ?? 2048);
const MINUTES = 60_000;

/** MIB MiB of AES-CTR keystream (incompressible, reproducible, fast) written to `path`; its sha256. */
async function bigFile(path: string): Promise<string> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16, 2));
  const zeros = Buffer.alloc(1 << 20);
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let i = 0; i < MIB; i++) {
      const piece = cipher.update(zeros);
      hash.update(piece);
      await fh.write(piece);
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe.skipIf(process.env.CRISSCROSS_BIG_TRANSFER !== '1')(`a ${MIB} MiB file cloned between two daemons`, { timeout: 60 * MINUTES }, () => {
  let dir: string;
  afterAll(async () => {
    await cleanupDaemons();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('is uploaded to A, cloned by B with remote_persist, and downloaded from B alone with the same sha256', async () => {
    dir = await tempDir('crisscross-big-');
    const source = join(dir, 'source');
    const want = await bigFile(source);
    const [a, b] = await startDaemons(2);
    const cluster = newCluster();
    const addr = await joinCluster(a, cluster);
    await joinCluster(b, { ...cluster, bootstrap: [addr] });
    await poll(async () => ((await clusterInfo(b.redis(), cluster.name))?.peers === '1' ? true : undefined));

    const up = await cli(['upload', source], { env: daemonEnv(a), timeoutMs: 30 * MINUTES });
    expect(up.code, up.stderr).toBe(0);
    const id = up.stdout.toString().trim();
    expect(await a.redis().call('ANNOUNCE', cluster.name, id, '-1')).toBe('OK');
    await poll(async () => ((await b.redis().call('REMOTENOLOCAL', cluster.name, '1', 'FILESIZE', id)) === MIB * 2 ** 20 ? true : undefined));

    const cloned = await cli(['remote_persist', '--num', '1', cluster.name, id], { env: daemonEnv(b), timeoutMs: 30 * MINUTES });
    expect(cloned.code, cloned.stderr).toBe(0);
    const bytes = Number(/\((\d+) bytes\)/.exec(cloned.stdout.toString())?.[1]);
    expect(bytes).toBeGreaterThanOrEqual(MIB * 2 ** 20);

    // With A gone, everything B reads is its own.
    await a.stop();
    const copy = join(dir, 'copy');
    const down = await cli(['download', id, copy], { env: daemonEnv(b), timeoutMs: 30 * MINUTES });
    expect(down.code, down.stderr).toBe(0);
    expect((await stat(copy)).size).toBe(MIB * 2 ** 20);
    expect(await sha256Of(copy)).toBe(want);
  });
});
