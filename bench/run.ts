import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchConfig, loadConfig } from './config.ts';
import { type Metric, type SuiteResult, perSecond } from './measure.ts';

/**
 * `npm run bench`: runs each suite in its own child process, one after the other (so the
 * engines never compete for cores, and each one's peak RSS and heap are its own), then prints
 * one markdown table pairing our figures with the anchor's. Sizes come from BENCH_* variables
 * (bench/config.ts). `node bench/run.ts --suite tree` runs one suite in-process and prints JSON.
 */

const SUITES: Record<string, (cfg: BenchConfig) => Promise<SuiteResult>> = {
  tree: async (cfg) => (await import('./tree.ts')).runTreeSuite(cfg),
  anchor: async (cfg) => (await import('./anchor.ts')).runAnchorSuite(cfg),
};

interface Row {
  id: string;
  label: string;
  /** Whether a larger figure is better; decides the direction of the ratio. */
  higher: boolean;
  target?: { min?: number; max?: number; vsAnchor?: number };
}

const rows = (keys: string, diffKeys: number): Row[] => [
  { id: 'ingest.ordered', label: 'Bulk ingest, keys in order (pairs/s)', higher: true, target: { min: 500_000, vsAnchor: 5 } },
  { id: 'ingest.random', label: 'Bulk ingest, random keys (pairs/s)', higher: true, target: { min: 500_000, vsAnchor: 5 } },
  { id: 'reads', label: `Random point reads, warm ${keys}-key tree (reads/s)`, higher: true, target: { min: 200_000 } },
  { id: 'puts', label: `Durable single-key puts into the ${keys}-key tree, concurrent writers (puts/s)`, higher: true, target: { min: 20_000 } },
  { id: 'puts.syncs', label: '… syncs during the puts (syncs/s)', higher: false },
  { id: 'puts.bytes', label: '… block bytes stored per put (B)', higher: false },
  { id: 'puts.p50', label: '… put latency p50 (ms)', higher: false },
  { id: 'puts.p99', label: '… put latency p99 (ms)', higher: false },
  { id: 'diff.warm', label: `Diff of two ${keys}-key trees, ${diffKeys} keys apart, warm (ms, median)`, higher: false, target: { max: 10 } },
  { id: 'diff.cold', label: '… same diff, first run after reopening (ms)', higher: false },
  { id: 'walk.cold', label: 'Full walk from disk (nodes/s)', higher: true },
  { id: 'disk.ordered', label: 'On disk after key-order ingest (B/pair)', higher: false },
  { id: 'disk.random', label: 'On disk after random ingest (B/pair)', higher: false },
  { id: 'disk.written.random', label: 'Written to disk during the random ingest (B/pair)', higher: false },
  { id: 'bytes.written', label: 'Block bytes written by the random ingest (B/pair)', higher: false },
  { id: 'bytes.records', label: '… stored as records, deltas included (B/pair)', higher: false },
  { id: 'bytes.written.ordered', label: 'Block bytes written by the key-order ingest (B/pair)', higher: false },
  { id: 'bytes.live', label: 'Live tree bytes (B/pair)', higher: false },
  { id: 'mem.rss', label: 'Peak RSS (MiB)', higher: false },
  { id: 'mem.heap', label: 'Peak JS heap used (MiB)', higher: false },
  { id: 'mem.buffers', label: 'Peak ArrayBuffer memory, outside the heap (MiB)', higher: false },
];

function runChild(name: string): Promise<SuiteResult> {
  return new Promise((resolve, reject) => {
    // --expose-gc lets suites start each phase from a collected heap (bench/measure.ts settle).
    const child = fork(fileURLToPath(import.meta.url), ['--suite', name], { execArgv: [...process.execArgv, '--expose-gc'] });
    let result: SuiteResult | undefined;
    child.on('message', (m) => { result = m as SuiteResult; });
    child.on('error', reject);
    child.on('exit', (code) => (result !== undefined ? resolve(result) : reject(new Error(`suite ${name} exited with ${code}`))));
  });
}

function fmt(m: Metric | undefined): string {
  if (m === undefined) return '—';
  const v = m.value;
  const digits = v >= 1000 ? 0 : v >= 100 ? 1 : v >= 1 ? 2 : 3;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits >= 2 ? digits : 0 });
}

/** How many times better ours is (>1 is better, whichever direction the metric runs). */
function ratio(row: Row, ours: Metric | undefined, anchor: Metric | undefined): number | undefined {
  if (ours === undefined || anchor === undefined || ours.value === 0 || anchor.value === 0) return undefined;
  return row.higher ? ours.value / anchor.value : anchor.value / ours.value;
}

function targetText(t: Row['target']): string {
  if (t === undefined) return '—';
  const parts: string[] = [];
  if (t.min !== undefined) parts.push(`≥ ${t.min.toLocaleString('en-US')}`);
  if (t.max !== undefined) parts.push(`≤ ${t.max}`);
  if (t.vsAnchor !== undefined) parts.push(`≥ ${t.vsAnchor}× anchor`);
  return parts.join(', ');
}

function met(t: Row['target'], ours: Metric | undefined, r: number | undefined): string {
  if (t === undefined) return '';
  if (ours === undefined) return '?';
  const ok = (t.min === undefined || ours.value >= t.min) && (t.max === undefined || ours.value <= t.max)
    && (t.vsAnchor === undefined || (r !== undefined && r >= t.vsAnchor));
  return ok ? 'yes' : '**no**';
}

/**
 * When a time limit stopped one engine's ingest early, its figure covers a smaller tree than the
 * other's. This row compares both over the same first pairs, read off their curves.
 */
function equalSizeRow(id: string, label: string, ours: Metric | undefined, anchor: Metric | undefined): string | undefined {
  if (ours?.curve === undefined || anchor?.curve === undefined) return undefined;
  const lastOurs = ours.curve[ours.curve.length - 1];
  const lastAnchor = anchor.curve[anchor.curve.length - 1];
  if (lastOurs === undefined || lastAnchor === undefined || lastOurs[0] === lastAnchor[0]) return undefined;
  const common = Math.min(lastOurs[0], lastAnchor[0]);
  const at = (c: Array<[number, number]>) => c.find(([pairs]) => pairs >= common) as [number, number];
  const o = { id, value: perSecond(...at(ours.curve)), unit: 'pairs/s' };
  const a = { id, value: perSecond(...at(anchor.curve)), unit: 'pairs/s' };
  return `| … ${label}, both over the first ${common.toLocaleString('en-US')} pairs | ${fmt(o)} | ${fmt(a)} | ${(o.value / a.value).toFixed(1)}× | ≥ 5× anchor | ${o.value >= 5 * a.value ? 'yes' : '**no**'} |`;
}

function table(results: SuiteResult[], cfg: BenchConfig): string {
  const ours = results.find((r) => r.engine === 'crisscross');
  const anchor = results.find((r) => r.engine !== 'crisscross');
  const byId = (s: SuiteResult | undefined, id: string) => s?.metrics.find((m) => m.id === id);
  const lines = ['| metric | ours | anchor | ours vs anchor | target | met? |', '|---|--:|--:|--:|---|---|'];
  const keys = cfg.keys % 1_000_000 === 0 ? `${cfg.keys / 1_000_000}M` : cfg.keys.toLocaleString('en-US');
  for (const row of rows(keys, cfg.diffKeys)) {
    const o = byId(ours, row.id);
    const a = byId(anchor, row.id);
    if (o === undefined && a === undefined) continue;
    const r = ratio(row, o, a);
    lines.push(`| ${row.label} | ${fmt(o)} | ${fmt(a)} | ${r === undefined ? '—' : `${r.toFixed(r >= 10 ? 0 : 1)}×`} | ${targetText(row.target)} | ${met(row.target, o, r)} |`);
    if (row.id.startsWith('ingest.')) {
      const equal = equalSizeRow(row.id, row.id === 'ingest.random' ? 'random keys' : 'keys in order', o, a);
      if (equal !== undefined) lines.push(equal);
    }
  }
  const notes: string[] = [];
  for (const s of results) {
    for (const m of s.metrics) if (m.note !== undefined) notes.push(`- ${s.engine}, ${m.id}: ${m.note}`);
    for (const n of s.notes) notes.push(`- ${n}`);
  }
  return `${lines.join('\n')}\n\n"ours vs anchor" is how many times better ours is (higher throughput or lower time/size).\n\n${notes.join('\n')}\n`;
}

/** The load average matters on a shared machine: other processes' work shows up in every figure. */
function load(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

/** The commit measured, marked dirty when src/ has uncommitted changes (others edit the same checkout). */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted src/ changes` : head;
  } catch {
    return 'unknown';
  }
}

function machine(cfg: BenchConfig, loadBefore: string, rev: string): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `date ${new Date().toISOString()}, node ${process.version}, ${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    `commit ${rev} (at start); load average (1/5/15 min) ${loadBefore} before, ${load()} after`,
    `keys ${cfg.keys}, batch ${cfg.batch}, reads ${cfg.reads} (≤ ${cfg.readSeconds} s), puts ${cfg.puts} (≤ ${cfg.putSeconds} s) by ${cfg.writers} writers, diff of ${cfg.diffKeys} keys × ${cfg.diffRuns} runs, cache ${cfg.cacheMiB} MiB, tmp ${cfg.tmpRoot}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  if (process.argv[2] === '--suite') {
    const name = process.argv[3];
    const suite = SUITES[name];
    if (suite === undefined) throw new Error(`unknown suite '${name}'`);
    const result = await suite(cfg);
    if (process.send !== undefined) process.send(result);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const loadBefore = load();
  const rev = revision();
  const results: SuiteResult[] = [];
  for (const name of cfg.suites) results.push(await runChild(name));
  mkdirSync(cfg.tmpRoot, { recursive: true });
  writeFileSync(join(cfg.tmpRoot, 'results.json'), JSON.stringify({ config: cfg, results }, null, 2));
  process.stdout.write(`${machine(cfg, loadBefore, rev)}\n\n${table(results, cfg)}`);
}

await main();
