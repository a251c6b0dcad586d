import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
const size = Number(process.argv[2] ?? 256 * 1024 * 1024);
const PIECE = 1 << 20;
const data = randomBytes(PIECE);
const s = connect(Number(process.env.P ?? 6501), '127.0.0.1');
await new Promise((r) => s.once('connect', r));
let replies = 0; const want = size / PIECE + 2;
let done!: () => void; const fin = new Promise<void>((r) => (done = r));
let acc = '';
s.on('data', (d) => { acc += d.toString('latin1'); const lines = acc.split('\r\n'); acc = lines.pop()!; for (const l of lines) { if (l[0] === '+' || l[0] === ':' || l[0] === '$' || l[0] === '-') { if (l[0]==='-') console.log(l); if (l[0] !== '$') replies++; } } if (replies >= want - 1) done(); });
const t0 = performance.now();
s.write('*1\r\n$9\r\nFILEBEGIN\r\n');
const head = Buffer.from(`*2\r\n$9\r\nFILEWRITE\r\n$${PIECE}\r\n`);
let sent = 0;
async function pump() {
  for (let o = 0; o < size; o += PIECE) {
    data.writeUInt32BE(o, 0);
    const ok = s.write(Buffer.concat([head, data, Buffer.from('\r\n')]));
    sent++;
    if (!ok) await new Promise((r) => s.once('drain', r));
  }
  s.write('*2\r\n$7\r\nFILEEND\r\n$1\r\n0\r\n');
}
await pump();
await fin;
console.log('MB/s', (size / 1e6 / ((performance.now() - t0) / 1000)).toFixed(0));
s.end();
