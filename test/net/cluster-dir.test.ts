import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterDir, type ClusterChanges } from '../../src/net/cluster-dir.ts';
import { newCluster, renderCluster } from '../../src/net/cluster-file.ts';

/** Waits for `cond`, checking after every change and at most `rounds` rescans. */
async function until(dir: ClusterDir, cond: () => boolean, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds && !cond(); i++) await dir.rescan();
  expect(cond()).toBe(true);
}

describe('ClusterDir', () => {
  let base: string | undefined;
  let dir: ClusterDir | undefined;
  afterEach(async () => {
    await dir?.stop();
    if (base !== undefined) await rm(base, { recursive: true, force: true });
  });

  async function open(): Promise<{ changes: ClusterChanges[]; logs: string[] }> {
    base = await mkdtemp(join(tmpdir(), 'crisscross-clusters-'));
    const changes: ClusterChanges[] = [];
    const logs: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(chunk.toString()); cb(); } });
    dir = new ClusterDir({ dir: base, logger: pino({ level: 'info' }, sink), onChange: async (c) => void changes.push(c), rescanMs: 60_000 });
    return { changes, logs };
  }

  it('loads files present at start and picks up added, changed and removed files', async () => {
    const { changes } = await open();
    const a = newCluster();
    await writeFile(join(base!, 'a.yaml'), renderCluster(a));
    await dir!.start();
    expect(dir!.list().map((c) => c.name)).toEqual([a.name]);

    const b = newCluster();
    await writeFile(join(base!, 'b.yml'), renderCluster(b));
    await until(dir!, () => dir!.get(b.name) !== undefined);

    await writeFile(join(base!, 'a.yaml'), renderCluster({ ...a, maxTtlMs: 5 }));
    await until(dir!, () => dir!.get(a.name)?.maxTtlMs === 5);

    await unlink(join(base!, 'b.yml'));
    await until(dir!, () => dir!.get(b.name) === undefined);
    expect(changes.flatMap((c) => c.removed.map((r) => r.name))).toEqual([a.name, b.name]);
  });

  it('skips a bad file with one log line per content, and never throws', async () => {
    const { logs } = await open();
    await writeFile(join(base!, 'bad.yaml'), 'Name: x\nCypher: y\n');
    await writeFile(join(base!, 'notes.txt'), 'not a cluster');
    await dir!.start();
    await dir!.rescan();
    await dir!.rescan();
    expect(dir!.list()).toEqual([]);
    const bad = logs.filter((l) => l.includes('bad cluster file'));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toContain('bad.yaml');
    expect(bad[0]).toContain('Cypher must be 32 bytes');
  });

  it('keeps the first of two files with one Name', async () => {
    const { logs } = await open();
    const a = newCluster();
    await writeFile(join(base!, 'a.yaml'), renderCluster(a));
    await writeFile(join(base!, 'b.yaml'), renderCluster({ ...a, maxTtlMs: 1 }));
    await dir!.start();
    expect(dir!.get(a.name)?.maxTtlMs).toBe(a.maxTtlMs);
    expect(logs.filter((l) => l.includes('repeats a Name'))).toHaveLength(1);
  });
});
