import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, startDaemon, tempDir, type TestDaemon } from '../harness/daemon.ts';
import { cli, cliOnTerminal, daemonEnv, redisCli } from '../harness/run.ts';

const BASE58_ID = /^[1-9A-HJ-NP-Za-km-z]{40,60}$/;

let d: TestDaemon;
let env: Record<string, string>;

beforeAll(async () => {
  d = await startDaemon();
  env = daemonEnv(d);
});
afterAll(cleanupDaemons);

/** Setup writes go through ioredis: each CLI run costs a Node start, so the CLI runs only where it is under test. */
async function seed(tree: string, ...pairs: string[]): Promise<string> {
  return (await d.redis().call('PUTMULTIBIN', tree, '-1', ...pairs)) as string;
}

async function put(tree: string, ...pairs: string[]): Promise<string> {
  const r = await cli(['put', tree, ...pairs], { env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.toString().trim();
}

describe('the issue-3 transcript', { timeout: 60_000 }, () => {
  it('redis-cli and the CLI agree on ids and values', async () => {
    const viaRedisCli = await redisCli(d.port, ['PUTMULTIBIN', '', '-1', 'hello', 'world']);
    expect(viaRedisCli.code).toBe(0);
    const id = viaRedisCli.stdout.toString().trim();
    expect(id).toMatch(BASE58_ID);

    const fetched = await redisCli(d.port, ['FETCHBIN', id, 'hello']);
    expect(fetched.stdout.toString()).toBe('world\n');

    expect(await put('', 'hello', 'world')).toBe(id);

    const got = await cli(['get', id, 'hello'], { env });
    expect(got.code).toBe(0);
    // Raw bytes, no newline added when stdout is not a terminal; on a terminal the line is ended.
    expect(got.stdout.toString()).toBe('world');
    const shown = await cliOnTerminal(['get', id, 'hello'], { env });
    expect(shown.code).toBe(0);
    expect(shown.stdout.toString()).toBe('world\r\n');

    // The README's quick start shows this id: ids depend on contents alone, so it must match.
    expect(await readFile(new URL('../../README.md', import.meta.url), 'utf8')).toContain(`$ npx crisscross put "" hello world\n${id}\n`);
  });
});

describe('CLI commands against a daemon', { timeout: 60_000, concurrent: true }, () => {
  it('put accepts nil for the empty tree and several pairs, get returns binary-safe bytes', async () => {
    const id = await put('nil', 'a', '1', 'b', 'two words', 'c', 'ünïcödé');
    const got = await Promise.all(['a', 'b', 'c'].map((k) => cli(['get', id, k], { env })));
    expect(got.map((r) => r.stdout.toString())).toEqual(['1', 'two words', 'ünïcödé']);
  });

  it('get of a missing key exits 1 with nothing on stdout', async () => {
    const id = await seed('', 'k', 'v');
    const r = await cli(['get', id, 'absent'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('key not found: absent');
  });

  it('has_key prints true/false and exits 0/1', async () => {
    const id = await seed('', 'k', 'v');
    const yes = await cli(['has_key', id, 'k'], { env });
    expect([yes.code, yes.stdout.toString()]).toEqual([0, 'true\n']);
    const no = await cli(['has_key', id, 'x'], { env });
    expect([no.code, no.stdout.toString()]).toEqual([1, 'false\n']);
  });

  it('delete returns the root of the remaining pairs, and the old root stays valid', async () => {
    const both = await seed('', 'a', '1', 'b', '2');
    const r = await cli(['delete', both, 'a', '--ttl', '60000'], { env });
    expect(r.code).toBe(0);
    const onlyB = r.stdout.toString().trim();
    expect(onlyB).toBe(await seed('', 'b', '2'));
    expect((await cli(['has_key', onlyB, 'a'], { env })).code).toBe(1);
    expect((await cli(['get', both, 'a'], { env })).stdout.toString()).toBe('1');
  });

  it('bytes_written prints a positive integer', async () => {
    const id = await seed('', 'k', 'v');
    const r = await cli(['bytes_written', id], { env });
    expect(r.code).toBe(0);
    expect(Number(r.stdout.toString())).toBeGreaterThan(0);
  });

  it('a malformed id is a daemon error: exit 3 with its message', async () => {
    const r = await cli(['get', 'not-base58-0OIl', 'k'], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^crisscross: [A-Z]+ /);
  });

  it('substitutes *file.yaml#Field on the client side', async () => {
    const id = await seed('', 'hello', 'world');
    const dir = await tempDir();
    await writeFile(join(dir, 'app.yaml'), `Root: ${id}\nName: demo\n`);
    const r = await cli(['get', '*app.yaml#Root', 'hello'], { env, cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('world');
    const next = await cli(['put', `*${join(dir, 'app.yaml')}#Root`, 'more', 'data'], { env });
    expect(next.stdout.toString().trim()).toBe(await seed('', 'hello', 'world', 'more', 'data'));
  });

  it('var_set, ^variable, compare-and-set, NX, var_get and var_delete', async () => {
    const v1 = await seed('', 'k', '1');
    expect((await cli(['var_set', 'app', v1], { env })).code).toBe(0);
    expect((await cli(['var_get', 'app'], { env })).stdout.toString()).toBe(`${v1}\n`);
    expect((await cli(['get', '^app', 'k'], { env })).stdout.toString()).toBe('1');

    const v2 = await put('^app', 'k', '2');
    expect((await cli(['var_set', 'app', v2, '--if', v1], { env })).code).toBe(0);
    const lost = await cli(['var_set', 'app', v1, '--if', v1], { env });
    expect(lost.code).toBe(1);
    expect((await cli(['var_get', 'app'], { env })).stdout.toString()).toBe(`${v2}\n`);

    expect((await cli(['var_delete', 'app'], { env })).code).toBe(0);
    expect((await cli(['var_get', 'app'], { env })).code).toBe(1);
    expect((await cli(['var_delete', 'app'], { env })).code).toBe(1);

    expect((await cli(['var_set', 'app', v1, '--nx'], { env })).code).toBe(0);
    const taken = await cli(['var_set', 'app', v2, '--nx'], { env });
    expect([taken.code, taken.stderr]).toEqual([1, 'crisscross: variable app is already set; nothing changed\n']);
  });

  it('range pages through every pair in order, bounded and reversed', async () => {
    const pairs = Array.from({ length: 2500 }, (_, i) => [`k${String(i).padStart(5, '0')}`, `v${i}`]);
    const id = await seed('', ...pairs.flat());
    const all = await cli(['range', id], { env });
    expect(all.code).toBe(0);
    expect(all.stdout.toString()).toBe(pairs.map(([k, v]) => `${k}\t${v}\n`).join(''));

    const some = await cli(['range', id, '--min', 'k00010', '--max', 'k00013', '--exclusive-max'], { env });
    expect(some.stdout.toString()).toBe('k00010\tv10\nk00011\tv11\nk00012\tv12\n');

    const last = await cli(['range', id, '--reverse', '--count', '2'], { env });
    expect(last.stdout.toString()).toBe('k02499\tv2499\nk02498\tv2498\n');
  });

  it('diff prints what changed between two roots', async () => {
    const a = await seed('', 'same', '0', 'gone', '1', 'changed', 'old');
    const b = await seed('', 'same', '0', 'added', '2', 'changed', 'new');
    const r = await cli(['diff', a, b], { env });
    expect(r.code).toBe(0);
    const lines = r.stdout.toString().trim().split('\n').sort();
    expect(lines).toEqual(['+added\t2', '+changed\tnew', '-changed\told', '-gone\t1']);
  });

  it('info prints the report, or one section', async () => {
    const r = await cli(['info', 'server'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^# Server\n/);
    expect(r.stdout.toString()).not.toContain('\r');
  });
});
