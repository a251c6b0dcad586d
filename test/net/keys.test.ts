import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { renderKeyPair } from '../../src/net/cluster-file.ts';
import { keyText, newKeyPair } from '../../src/net/identity.ts';
import { parseKeyFile } from '../../src/net/key-file.ts';
import { Keys } from '../../src/net/keys.ts';
import { type TestDaemon, cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { poll } from './cluster-daemons.ts';

describe('key files', () => {
  it('parse what KEYPAIR prints, and a public half alone', () => {
    const kp = newKeyPair();
    const e = parseKeyFile(renderKeyPair(kp));
    expect(e.publicKey.equals(kp.publicKey)).toBe(true);
    expect(e.privateKey?.equals(kp.privateKey)).toBe(true);
    const pub = parseKeyFile(`Name: ${e.name}\nPublicKey: ${keyText(kp.publicKey)}\n`);
    expect(pub.privateKey).toBeUndefined();
  });

  it('refuse a wrong Name, a PrivateKey of another key and unknown fields', () => {
    const kp = newKeyPair();
    const other = newKeyPair();
    const text = renderKeyPair(kp);
    expect(() => parseKeyFile(text.replace(/^Name: .*$/m, `Name: ${keyText(kp.publicKey)}`))).toThrow(/Name does not match PublicKey/);
    expect(() => parseKeyFile(text.replace(/^PrivateKey: .*$/m, `PrivateKey: ${keyText(other.privateKey)}`))).toThrow(/does not belong/);
    expect(() => parseKeyFile(`${text}Extra: 1\n`)).toThrow(/unknown field Extra/);
  });
});

describe('Keys (the keys dir)', () => {
  let base: string | undefined;
  let keys: Keys | undefined;
  afterEach(async () => {
    await keys?.stop();
    if (base !== undefined) await rm(base, { recursive: true, force: true });
    await cleanupDaemons();
  });

  it('finds a key file added while running (fs.watch), and skips a bad one with one log line', async () => {
    base = await mkdtemp(join(tmpdir(), 'crisscross-keys-'));
    const logs: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(chunk.toString()); cb(); } });
    const first = newKeyPair();
    await writeFile(join(base, 'first.yaml'), renderKeyPair(first));
    await writeFile(join(base, 'bad.yaml'), 'Name: x\nPublicKey: y\n');
    // A rescan period longer than the test: only the watcher can pick the new file up.
    keys = new Keys({ dir: base, logger: pino({ level: 'info' }, sink), rescanMs: 600_000 });
    await keys.start();
    const name = parseKeyFile(renderKeyPair(first)).name;
    expect(keys.get(name)?.privateKey?.equals(first.privateKey)).toBe(true);
    const later = newKeyPair();
    await writeFile(join(base, 'later.yaml'), renderKeyPair(later));
    const found = await poll(async () => keys!.get(parseKeyFile(renderKeyPair(later)).name));
    expect(found.publicKey.equals(later.publicKey)).toBe(true);
    const bad = logs.filter((l) => l.includes('bad key file'));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toContain('bad.yaml');
    expect(keys.list()).toHaveLength(2);
  });

  it('a running daemon counts key files dropped into its keys dir (INFO cluster keys)', async () => {
    const d: TestDaemon = await startDaemon({ args: ['--overlay', 'off'] });
    const count = async (): Promise<number> => Number(/keys:(\d+)/.exec(String(await d.redis().call('INFO', 'cluster')))?.[1]);
    expect(await count()).toBe(0);
    await writeFile(join(d.clustersDir, '..', 'keys', 'me.yaml'), String(await d.redis().call('KEYPAIR')));
    await poll(async () => ((await count()) === 1 ? true : undefined));
  });
});
