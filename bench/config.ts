import { fileURLToPath } from 'node:url';

/** Scratch space inside the checkout (git-ignored), on the same disk the product would use. */
const DEFAULT_TMP = fileURLToPath(new URL('../.bench-tmp/bench', import.meta.url));

/**
 * Benchmark sizes, all overridable from the environment so a quick run (BENCH_KEYS=100000)
 * and the full 1M-key run share one code path. Every loop is bounded by a count and, where
 * the work could run away on a slow machine, by a time limit too.
 */
export interface BenchConfig {
  /** Pairs ingested, and the size of the tree every later suite works on. */
  keys: number;
  /** Pairs per durable write during ingest. */
  batch: number;
  /**
   * Each ingest stops after this long even if pairs remain; the anchor needs it at 1M keys. A
   * cut-short ingest reports its rate over the pairs it did (rates only fall as a tree grows,
   * so that flatters the engine cut short), and the later phases use the smaller tree.
   */
  ingestSeconds: number;
  /** Random point reads on the warm tree (bounded by readSeconds too). */
  reads: number;
  readSeconds: number;
  /** Single-key durable puts, shared by all writers (bounded by putSeconds too). */
  puts: number;
  putSeconds: number;
  writers: number;
  /** Keys changed between the two trees that are diffed, and how many diffs are timed. */
  diffKeys: number;
  diffRuns: number;
  /** Node cache of our engine, in MiB (Trees' default is 256). */
  cacheMiB: number;
  /** Parent directory of the temporary LevelDB directories. */
  tmpRoot: string;
  /** Which suites run: `tree` (ours), `anchor` (@atproto/repo MST). */
  suites: string[];
  /** Phases to profile with the inspector (`ingest-ordered,ingest-random,reads,puts,diff`). */
  profile: string[];
  seed: number;
}

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function loadConfig(): BenchConfig {
  return {
    keys: int('BENCH_KEYS', 1_000_000),
    batch: int('BENCH_BATCH', 1_000),
    ingestSeconds: int('BENCH_INGEST_SECONDS', 300),
    reads: int('BENCH_READS', 1_000_000),
    readSeconds: int('BENCH_READ_SECONDS', 20),
    puts: int('BENCH_PUTS', 100_000),
    putSeconds: int('BENCH_PUT_SECONDS', 10),
    writers: int('BENCH_WRITERS', 50),
    diffKeys: int('BENCH_DIFF_KEYS', 100),
    diffRuns: int('BENCH_DIFF_RUNS', 21),
    cacheMiB: int('BENCH_CACHE_MIB', 256),
    tmpRoot: process.env.BENCH_TMP ?? DEFAULT_TMP,
    suites: list('BENCH_SUITES', 'tree,anchor'),
    profile: list('BENCH_PROFILE', ''),
    seed: int('BENCH_SEED', 42),
  };
}
