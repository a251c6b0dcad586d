import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * Summarizes a .cpuprofile (from BENCH_PROFILE=<phase> or `node --cpu-prof`): the functions
 * with the most self time, and the project's own functions by inclusive time, each with its
 * file:line, so a profile can be read without opening DevTools.
 *
 *   node bench/profile-summary.ts .bench-tmp/tree-puts.cpuprofile [top=25]
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(f: CallFrame): string {
  const name = f.functionName === '' ? '(anonymous)' : f.functionName;
  if (f.url === '') return name;
  const path = f.url.startsWith('file://') ? relative(process.cwd(), new URL(f.url).pathname) : f.url;
  // The profiler's line numbers are zero-based.
  return `${name} ${path}:${f.lineNumber + 1}`;
}

/** Native frames (no url) are named after their nearest JS caller, or they all read "(anonymous)". */
function selfLabel(id: number, byId: Map<number, ProfileNode>, parent: Map<number, number>): string {
  const frame = (byId.get(id) as ProfileNode).callFrame;
  if (frame.url !== '' || frame.functionName.startsWith('(')) return where(frame);
  for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
    const caller = (byId.get(p) as ProfileNode).callFrame;
    if (caller.url !== '') return `${where(frame)} <- ${where(caller)}`;
  }
  return where(frame);
}

function summarize(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  // Each sample is charged to the time until the next one; V8 records the deltas that way.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    let id: number | undefined = profile.samples[i];
    const leaf = selfLabel(id, byId, parent);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    const seen = new Set<string>();
    for (; id !== undefined; id = parent.get(id)) {
      const w = where((byId.get(id) as ProfileNode).callFrame);
      if (seen.has(w)) continue;
      seen.add(w);
      inclusive.set(w, (inclusive.get(w) ?? 0) + dt);
    }
  }
  const total = profile.endTime - profile.startTime;
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const rows = (m: Map<string, number>, filter: (k: string) => boolean) =>
    [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([k, us]) => `${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return [
    `profile of ${(total / 1e6).toFixed(2)} s`,
    '', 'self time:', ...rows(self, () => true),
    '', 'inclusive time, src/ only:', ...rows(inclusive, (k) => k.includes(' src/')),
  ].join('\n');
}

const [file, top] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: node bench/profile-summary.ts <file.cpuprofile> [top]');
process.stdout.write(`${summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(top ?? 25))}\n`);
