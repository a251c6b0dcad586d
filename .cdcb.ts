import { randomBytes } from 'node:crypto';
import { chunkEnd } from './src/tree/cdc.ts';
const GEAR = new Int32Array(256); const GEAR2 = new Int32Array(256);
import { createHash } from 'node:crypto';
for (let i = 0; i < 256; i++) { GEAR[i] = createHash('sha256').update(Uint8Array.of(i)).digest().readInt32BE(0); GEAR2[i] = GEAR[i] << 1; }
const MIN = 65536, AVG = 262144, MAX = 1048576, MS = 0xffffe000 | 0, ML = 0xfffe0000 | 0;
function unrolled(b: Uint8Array, start: number, end: number, final: boolean): number {
  const n = end - start;
  if (n < MAX && !final) return -1;
  if (n <= MIN) return end;
  const stop = n > MAX ? start + MAX : end;
  const mid = start + AVG < stop ? start + AVG : stop;
  const g = GEAR, g2 = GEAR2;
  let h = 0, i = start + MIN;
  for (; i + 3 < mid; i += 4) {
    h = ((h << 2) + g2[b[i]] + g[b[i + 1]]) | 0;
    if ((h & MS) === 0) return i + 2;
    h = ((h << 2) + g2[b[i + 2]] + g[b[i + 3]]) | 0;
    if ((h & MS) === 0) return i + 4;
  }
  for (; i + 1 < mid; i += 2) { h = ((h << 2) + g2[b[i]] + g[b[i + 1]]) | 0; if ((h & MS) === 0) return i + 2; }
  for (; i + 3 < stop; i += 4) {
    h = ((h << 2) + g2[b[i]] + g[b[i + 1]]) | 0;
    if ((h & ML) === 0) return i + 2;
    h = ((h << 2) + g2[b[i + 2]] + g[b[i + 3]]) | 0;
    if ((h & ML) === 0) return i + 4;
  }
  for (; i + 1 < stop; i += 2) { h = ((h << 2) + g2[b[i]] + g[b[i + 1]]) | 0; if ((h & ML) === 0) return i + 2; }
  return stop;
}
const buf = randomBytes(128 * 1024 * 1024);
for (const [name, f] of [['cur', chunkEnd], ['unr', unrolled], ['cur', chunkEnd], ['unr', unrolled]] as const) {
  const t = process.cpuUsage(); let p = 0, c = 0;
  while (p < buf.length) { p = f(buf, p, buf.length, true); c++; }
  const u = process.cpuUsage(t); console.log(name, c, ((u.user + u.system) / 1000).toFixed(0), 'ms cpu', (buf.length / ((u.user + u.system) / 1e6) / 1e6).toFixed(0), 'MB/s');
}
