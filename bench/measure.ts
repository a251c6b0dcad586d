import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';

/** One figure of one engine; `run.ts` pairs ours with the anchor's by `id`. */
export interface Metric {
  id: string;
  value: number;
  unit: string;
  /** Free-form detail printed under the table (what exactly was measured). */
  note?: string;
  /** Ingests: [pairs written, ms spent] after every batch, so two engines compare at equal sizes. */
  curve?: Array<[number, number]>;
}

export interface SuiteResult {
  engine: string;
  metrics: Metric[];
  notes: string[];
}

/**
 * Peak heap is sampled by the suites between steps (a timer would not fire inside the long
 * synchronous stretches that matter); peak RSS comes from the kernel's own high-water mark.
 */
export class MemoryWatch {
  peakHeap = 0;
  /** Memory of ArrayBuffers and Buffers (node bytes, slabs): outside the JS heap, inside RSS. */
  peakBuffers = 0;

  sample(): void {
    const used = getHeapStatistics().used_heap_size;
    if (used > this.peakHeap) this.peakHeap = used;
    const buffers = process.memoryUsage().arrayBuffers;
    if (buffers > this.peakBuffers) this.peakBuffers = buffers;
  }

  peakRss(): number {
    return process.resourceUsage().maxRSS * 1024;
  }
}

/** Allocated bytes of every file under `dir`, as `du` counts them. */
export function diskBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    total += st.isDirectory() ? diskBytes(join(dir, name)) : st.blocks * 512;
  }
  return total;
}

/** Bytes this process has caused to be written to disk so far (Linux), or 0 where unknown. */
export function processWriteBytes(): number {
  try {
    const m = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

export function median(xs: number[]): number {
  return percentile(xs, 0.5);
}

export function percentile(xs: ArrayLike<number>, q: number): number {
  const sorted = Array.from(xs).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}

/** Lets pending I/O callbacks and timers run between phases, and collects garbage when exposed. */
export async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Runs `fn`, under the V8 sampling profiler when `enabled`: only the phase asked for lands in
 * the profile, so the ingest that builds the tree does not drown the puts that follow it.
 * Returns the .cpuprofile path (summarize it with bench/profile-summary.ts).
 */
export async function profiled<T>(enabled: boolean, file: string, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
    process.stderr.write(`profile written to ${file}\n`);
  }
}

export interface IngestRun<S> {
  /** What the last step returned (a root, a tree object). */
  state: S;
  ms: number;
  /** Pairs written: all of them unless the time limit cut the ingest short. */
  done: number;
  /** Pairs/s over the last window (up to 100 batches): where the rate ended up as the tree grew. */
  lastRate: number;
  lastPairs: number;
  curve: Array<[number, number]>;
}

/**
 * Feeds `order` to `step` one batch at a time, timing only `step` (building a batch stands for
 * the client's work), until every pair is written or `seconds` have passed.
 */
export async function timedIngest<S, B>(opts: {
  order: Uint32Array;
  batch: number;
  seconds: number;
  initial: S;
  makeBatch: (indices: Uint32Array) => B;
  step: (state: S, batch: B) => Promise<S>;
  progress: (msg: string) => void;
  mem: MemoryWatch;
}): Promise<IngestRun<S>> {
  const WINDOW = 100;
  let state = opts.initial;
  let ms = 0;
  let done = 0;
  let windowMs = 0;
  let windowPairs = 0;
  let lastRate = 0;
  let lastPairs = 0;
  const curve: Array<[number, number]> = [];
  const deadline = performance.now() + opts.seconds * 1000;
  for (let n = 1; done < opts.order.length && performance.now() < deadline; n++) {
    const end = Math.min(done + opts.batch, opts.order.length);
    const batch = opts.makeBatch(opts.order.subarray(done, end));
    const t0 = performance.now();
    state = await opts.step(state, batch);
    const dt = performance.now() - t0;
    ms += dt;
    windowMs += dt;
    windowPairs += end - done;
    done = end;
    curve.push([done, ms]);
    opts.mem.sample();
    if (n % WINDOW === 0 || done === opts.order.length) {
      lastRate = perSecond(windowPairs, windowMs);
      lastPairs = windowPairs;
      opts.progress(`  ${done} pairs, ${Math.round(perSecond(done, ms))} pairs/s so far, ${Math.round(lastRate)} in the last ${windowPairs}`);
      windowMs = 0;
      windowPairs = 0;
    }
  }
  if (windowPairs > 0 && lastPairs === 0) {
    lastRate = perSecond(windowPairs, windowMs);
    lastPairs = windowPairs;
  }
  return { state, ms, done, lastRate, lastPairs, curve };
}

/** The ingest's figure: pairs/s over all it wrote, with its curve for comparisons at equal sizes. */
export function ingestMetric(id: string, r: IngestRun<unknown>, note: string): Metric {
  return { id, value: perSecond(r.done, r.ms), unit: 'pairs/s', note, curve: r.curve };
}

export function ingestNote(r: IngestRun<unknown>, keys: number, seconds: number): string {
  const cut = r.done < keys ? `STOPPED by the ${seconds} s limit (BENCH_INGEST_SECONDS) after ${r.done} of ${keys} pairs; ` : '';
  return `${cut}${r.done} pairs in ${(r.ms / 1000).toFixed(2)} s; ${Math.round(r.lastRate)} pairs/s over the last ${r.lastPairs}`;
}

export interface ReadsRun {
  reads: number;
  /** Reads/s of the median round, and of the slowest and fastest. */
  rate: number;
  min: number;
  max: number;
  rounds: number;
}

/**
 * Calls `read` for `keys.length` keys (bounded by `seconds`) in rounds of 100,000; keys are
 * fetched in chunks before the clock runs. The figure is the median round's rate: on a shared
 * machine a neighbour's burst then costs one round, not the whole figure.
 */
export async function timedReads<K>(keys: (from: number, to: number) => K[], count: number, seconds: number,
  read: (key: K) => Promise<void> | void): Promise<ReadsRun> {
  const CHUNK = 10_000;
  const ROUND = 100_000;
  const rates: number[] = [];
  let total = 0;
  let reads = 0;
  for (let round = 0; round * ROUND < count && total < seconds * 1000; round++) {
    let ms = 0;
    const end = Math.min(count, (round + 1) * ROUND);
    for (let start = round * ROUND; start < end; start += CHUNK) {
      const batch = keys(start, Math.min(start + CHUNK, end));
      const t0 = performance.now();
      for (const k of batch) {
        const pending = read(k);
        if (pending !== undefined) await pending;
      }
      ms += performance.now() - t0;
      reads += batch.length;
    }
    rates.push(perSecond(end - round * ROUND, ms));
    total += ms;
  }
  return { reads, rate: median(rates), min: Math.min(...rates), max: Math.max(...rates), rounds: rates.length };
}

export function readsNote(r: ReadsRun): string {
  return `${r.reads} reads; median of ${r.rounds} rounds, slowest ${Math.round(r.min)}/s, fastest ${Math.round(r.max)}/s`;
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 10 ms). */
export function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Runs `fn`, returning its result and the CPU seconds the given processes used meanwhile. */
export async function withCpu<T>(pids: number[], fn: () => Promise<T>): Promise<[T, number]> {
  const before = pids.map(cpuOf);
  const r = await fn();
  return [r, pids.reduce((sum, p, i) => sum + cpuOf(p) - before[i], 0)];
}
