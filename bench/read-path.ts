import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildCommands } from '../src/commands/index.ts';
import type { DispatchSession } from '../src/commands/dispatch.ts';
import { Collector } from '../src/gc/collector.ts';
import { RespDecoder } from '../src/resp/decoder.ts';
import { ReplyBuffer } from '../src/resp/writer.ts';
import { openStore } from '../src/store/index.ts';
import { median } from './measure.ts';

/**
 * `node bench/read-path.ts`: the CPU of one FETCHBIN on the daemon's command path, in process and
 * without sockets: RESP frames of 16 pipelined FETCHBIN (random keys) decoded, dispatched, the
 * tree read and the reply encoded, on a tree of READ_KEYS (1,000,000) keys built through
 * PUTMULTIBIN. What `bench/daemon.ts` measures minus the socket path, and far steadier on a
 * shared machine. Sizes: READ_KEYS, READ_COMMANDS (200,000 a round), READ_ROUNDS (6),
 * READ_SPREAD (1,024 distinct pipelines, reused: 16,384 keys, whose nodes stay in the CPU's caches;
 * 65536 draws a million keys, as redis-benchmark's `-r 1000000` does, and pays the memory misses).
 */

const keys = Number(process.env.READ_KEYS ?? 1_000_000);
const commands = Number(process.env.READ_COMMANDS ?? 200_000);
const rounds = Number(process.env.READ_ROUNDS ?? 6);
const spread = Number(process.env.READ_SPREAD ?? 1024);

const keyOf = (i: number): string => `key:${String(i).padStart(12, '0')}`;
const frame = (argv: string[]): string => `*${argv.length}\r\n${argv.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

const dir = await mkdtemp(join(process.env.BENCH_TMP ?? tmpdir(), 'crisscross-read-path-'));
const logger = pino({ level: 'silent' });
const store = await openStore(dir, { logger });
const collector = new Collector(store, { graceMs: 0, intervalMs: 0, logger });
const { dispatcher } = buildCommands({ store, collector, logger });
const session: DispatchSession = {
  id: 1, name: '', state: new Map(), authenticated: true, protocol: 2, lastCommand: '', connected: true,
  unblocker: undefined, drop: () => undefined,
} as DispatchSession;

/** One command, its reply as bytes. */
async function call(argv: string[]): Promise<Buffer> {
  const out = new ReplyBuffer();
  const running = dispatcher.dispatch(argv.map((a) => Buffer.from(a)), session, out);
  if (running !== undefined) await running.done;
  const chunks: Uint8Array[] = [];
  out.flush({ write: (c) => (chunks.push(c), true) });
  return Buffer.concat(chunks);
}

try {
  let root = '';
  for (let from = 0; from < keys; from += 1000) {
    const args = ['PUTMULTIBIN', root, '-1'];
    for (let i = from; i < Math.min(keys, from + 1000); i++) args.push(keyOf(i), 'x'.repeat(32));
    root = (await call(args)).toString('latin1').split('\r\n')[1];
  }
  let seed = 1;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const batches = Array.from({ length: spread }, () => Buffer.from(Array.from({ length: 16 }, () => frame(['FETCHBIN', root, keyOf(rand() % keys)])).join('')));
  const sink = { write: () => true };
  const perCommand: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const decoder = new RespDecoder();
    const out = new ReplyBuffer();
    const before = process.cpuUsage();
    for (let b = 0; b < commands / 16; b++) {
      decoder.push(batches[b % spread]);
      for (let argv = decoder.next(); argv !== undefined; argv = decoder.next()) {
        const running = dispatcher.dispatch(argv, session, out);
        if (running !== undefined) await running.done;
      }
      out.flush(sink);
    }
    const cpu = process.cpuUsage(before);
    perCommand.push((cpu.user + cpu.system) / commands);
  }
  perCommand.sort((a, b) => a - b);
  console.log(`FETCHBIN command path, ${keys.toLocaleString('en-US')} keys, pipelines of 16 over ${(spread * 16).toLocaleString('en-US')} keys: ${median(perCommand).toFixed(2)} µs CPU a command (median of ${rounds}; best ${perCommand[0].toFixed(2)})`);
} finally {
  await collector.stop();
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
