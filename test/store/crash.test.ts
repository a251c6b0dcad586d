import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../../src/codec/index.ts';
import { BlockStore, FOREVER } from '../../src/store/blockstore.ts';
import { idOf, idToText, parseId } from '../../src/store/id.ts';
import { Trees } from '../../src/tree/index.ts';
import { prng } from '../helpers/prng.ts';

/**
 * kill -9 in the middle of concurrent writes loses no acknowledged write, and the store
 * reopens every time. The child (fixtures/crash-writer.ts) prints a write only after its
 * promise resolved; whatever the parent read before the SIGKILL must be on disk.
 */

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const NODE = join(repo, 'node_modules/.bin/node');
const WRITER = join(here, 'fixtures/crash-writer.ts');
const logger = pino({ level: 'silent' });

type Ack =
  | { t: 'chain'; c: number; n: number; root: string; key: string; val: string }
  | { t: 'solo'; w: number; i: number; root: string; key: string; val: number; count: number; notBefore?: number; notAfter?: number };

interface Run {
  acks: Ack[];
  ready: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null };
  stderr: string;
}

let dir = '';
let child: ChildProcess | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisscross-crash-'));
});

afterEach(async () => {
  if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = null;
  await rm(dir, { recursive: true, force: true });
});


/**
 * Starts the writer, waits for `killAfter` acknowledgements, waits `extraMs` more (so the kill
 * lands at a random point of the write/sync cycle), then SIGKILLs it. Only complete lines count.
 */
function runOnce(run: number, heads: Array<{ c: number; root: string; n: number }>, killAfter: number, extraMs: number): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const proc = spawn(NODE, [WRITER, dir, String(run), JSON.stringify(heads)], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const result: Run = { acks: [], ready: false, exit: { code: null, signal: null }, stderr: '' };
    let pending = '';
    let killing = false;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`run ${run}: only ${result.acks.length}/${killAfter} acknowledgements in 20 s; stderr: ${result.stderr}`));
    }, 20_000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
        const rec = JSON.parse(line) as { t: string };
        if (rec.t === 'ready') result.ready = true;
        else if (rec.t === 'chain' || rec.t === 'solo') result.acks.push(rec as Ack);
      }
      if (!killing && result.acks.length >= killAfter) {
        killing = true;
        setTimeout(() => proc.kill('SIGKILL'), extraMs);
      }
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => {
      result.stderr += chunk;
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Lines still buffered in the pipe at the kill are acknowledged too: drain them.
      proc.stdout.once('end', () => {
        result.exit = { code, signal };
        resolveRun(result);
      });
      if (proc.stdout.readableEnded) {
        result.exit = { code, signal };
        resolveRun(result);
      }
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function verify(acks: Ack[]): Promise<void> {
  const store = await BlockStore.open(dir, logger);
  try {
    const trees = new Trees(store, store);
    // Every acknowledged root: present, pinned, holding its key with the right value.
    for (const a of acks) {
      const root = parseId(a.root);
      const where = `${a.t} ${JSON.stringify(a)}`;
      const pin = await store.pinOf(root);
      if (a.t === 'solo' && a.notBefore !== undefined) {
        expect(pin, where).toBeGreaterThanOrEqual(a.notBefore);
        expect(pin, where).toBeLessThanOrEqual(a.notAfter as number);
      } else {
        expect(pin, where).toBe(FOREVER);
      }
      const got = await trees.get(root, encodeValue(a.key));
      expect(got === undefined ? undefined : decodeValue(got), where).toEqual(a.val);
      const { count } = await trees.stats(root);
      expect(count, where).toBe(a.t === 'chain' ? a.n + 1 : a.count);
    }
    // The latest root of each chain holds the whole chain, and every block it reaches is intact.
    const latest = new Map<number, Ack & { t: 'chain' }>();
    for (const a of acks) if (a.t === 'chain' && (latest.get(a.c)?.n ?? -1) < a.n) latest.set(a.c, a);
    const solos = acks.filter((a) => a.t === 'solo').slice(-10);
    for (const a of [...latest.values(), ...solos]) {
      const root = parseId(a.root);
      for await (const node of trees.walk(root)) {
        expect(idToText(idOf(node.bytes)), `block of ${a.root}`).toBe(idToText(node.id));
      }
      if (a.t !== 'chain') continue;
      const entries: Array<[unknown, unknown]> = [];
      for await (const e of trees.range(root)) entries.push([decodeValue(e.key), decodeValue(e.val)]);
      const want = Array.from({ length: a.n + 1 }, (_, n) => [`c${a.c}/${n}`, `v${a.c}/${n}`]);
      expect(entries.sort(), `chain ${a.c}`).toEqual(want.sort());
    }
  } finally {
    await store.close();
  }
}

describe('crash safety', () => {
  it('SIGKILL during concurrent writes loses no acknowledged write; the store reopens each time', async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const all: Ack[] = [];
    const heads = new Map<number, { c: number; root: string; n: number }>();
    const RUNS = 4;
    for (let run = 0; run < RUNS; run++) {
      const killAfter = 20 + Math.floor(rnd() * 200);
      const extraMs = Math.floor(rnd() * 15);
      const r = await runOnce(run, [...heads.values()], killAfter, extraMs);
      const context = `seed ${seed} (set CRASH_SEED to replay), run ${run}, kill after ${killAfter} acks + ${extraMs} ms; child stderr: ${r.stderr}`;
      expect(r.ready, `the writer could not open the store: ${context}`).toBe(true);
      expect(r.exit.signal, context).toBe('SIGKILL');
      expect(r.acks.length, context).toBeGreaterThanOrEqual(killAfter);
      all.push(...r.acks);
      for (const a of r.acks) {
        if (a.t === 'chain' && (heads.get(a.c)?.n ?? -1) < a.n + 1) heads.set(a.c, { c: a.c, root: a.root, n: a.n + 1 });
      }
      await verify(all).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${context}`, { cause: e });
      });
    }
    // Chains continued across the crashes from their last acknowledged roots.
    expect([...heads.values()].some((h) => h.n > 0)).toBe(true);
  }, 120_000);
});
