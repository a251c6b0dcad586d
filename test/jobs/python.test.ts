import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyName, keyText, newKeyPair } from '../../src/net/identity.ts';
import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { MAIN, NODE, ROOT, cleanEnv } from '../harness/paths.ts';
import { run } from '../harness/run.ts';
import { poll } from '../net/cluster-daemons.ts';

afterAll(cleanupDaemons);

// Debian's interpreter, where python3-redis and python3-msgpack are installed (.ci/run).
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const WORKER = join(ROOT, 'examples', 'add_one_worker.py');
const CALLER = join(ROOT, 'examples', 'add_one_caller.py');
const STREAM = join(ROOT, 'examples', 'stream_upper.py');

describe('the add_one examples (redis-py, msgpack) and the job CLI', { timeout: 60_000 }, () => {
  it('a Python worker answers a Python caller, signed; the CLI calls and verifies too', async () => {
    const d = await startDaemon();
    const kp = newKeyPair();
    const service = keyName(kp.publicKey);
    await writeFile(join(dirname(d.clustersDir), 'keys', 'add_one.yaml'), renderKeyPair(kp));
    await poll(async () => (/keys:1\r\n/.test(String(await d.redis().call('INFO', 'cluster'))) ? true : undefined));
    const worker = spawn(PYTHON, [WORKER, service, '--port', String(d.port), '--jobs', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let workerErr = '';
    worker.stderr.on('data', (b: Buffer) => (workerErr += b.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
    await new Promise<void>((resolve) => worker.stdout.once('data', () => resolve()));

    const r = await run(PYTHON, [CALLER, service, keyText(kp.publicKey), '--port', String(d.port), '--value', '41']);
    expect(r.stderr + r.stdout.toString()).toContain('42 verified');
    expect(r.code).toBe(0);

    const env = { CRISSCROSS_PORT: String(d.port) };
    // msgpack 7 is the byte 0x07; the worker answers msgpack 8.
    const out = await run(NODE, [MAIN, 'job_do', service, 'add_one', '\x07', '--signature'], { env });
    expect(out.stderr).toBe('');
    const [response, hex] = out.stdout.toString().trimEnd().split('\t');
    expect(response).toBe('\x08');
    const ok = await run(NODE, [MAIN, 'job_verify', service, 'add_one', '\x07', '\x08', hex, keyText(kp.publicKey)], { env });
    expect(ok.code).toBe(0);
    const bad = await run(NODE, [MAIN, 'job_verify', service, 'add_one', '\x07', '\x09', hex, keyText(kp.publicKey)], { env });
    expect(bad.code).toBe(1);
    expect(await exited).toBe(0);
    expect(workerErr).toBe('');
    const none = await run(NODE, [MAIN, 'job_do', service, 'add_one', '\x07', '--timeout', '200'], { env: { ...cleanEnv(), ...env } });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/TIMEOUT/);
  });

  it('a Python push worker (SUBSCRIBE, redis-py pubsub) answers calls pushed to it', async () => {
    const d = await startDaemon();
    const kp = newKeyPair();
    const service = keyName(kp.publicKey);
    await writeFile(join(dirname(d.clustersDir), 'keys', 'add_one.yaml'), renderKeyPair(kp));
    await poll(async () => (/keys:1\r\n/.test(String(await d.redis().call('INFO', 'cluster'))) ? true : undefined));
    const worker = spawn(PYTHON, [WORKER, service, '--port', String(d.port), '--jobs', '3', '--push'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let workerErr = '';
    worker.stderr.on('data', (b: Buffer) => (workerErr += b.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
    await poll(async () => (/push_workers:1\r\n/.test(String(await d.redis().call('INFO', 'jobs'))) ? true : undefined));
    for (const value of ['41', '1', '99']) {
      const r = await run(PYTHON, [CALLER, service, keyText(kp.publicKey), '--port', String(d.port), '--value', value]);
      expect(r.stderr + r.stdout.toString()).toContain(`${Number(value) + 1} verified`);
    }
    expect(await exited).toBe(0);
    expect(workerErr).toBe('');
  });

  it('the streaming example: a Python producer gets a Python worker\'s answers in order', async () => {
    const d = await startDaemon();
    const worker = spawn(PYTHON, [STREAM, 'worker', 'upper', '--port', String(d.port), '--messages', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let workerErr = '';
    worker.stderr.on('data', (b: Buffer) => (workerErr += b.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
    await poll(async () => (/stream_workers_waiting:1\r\n/.test(String(await d.redis().call('INFO', 'pubsub'))) ? true : undefined));
    const r = await run(PYTHON, [STREAM, 'produce', 'upper', 'one', 'two', 'three', '--port', String(d.port)]);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('ONE\nTWO\nTHREE\n');
    expect(await exited).toBe(0);
    expect(workerErr).toBe('');
  });
});
