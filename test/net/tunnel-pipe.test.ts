import { readFileSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import type { Stream } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { type PipeCounters, pipe } from '../../src/net/tunnel-pipe.ts';
import { member } from './helpers.ts';
import { patternBytes, sha256hex } from './tunnel-fixtures.ts';

const PROTO = '/crisscross-test/pipe/1.0.0';

/**
 * pipe() between two in-process cluster nodes: a TCP client → a socket accepted here → pipe →
 * a stream from node a to node b, whose handler the test drives directly.
 */
describe('the tunnel pipe', { timeout: 120_000 }, () => {
  let a: ClusterNode;
  let b: ClusterNode;
  let server: Server;
  let remote: (stream: Stream) => void = () => undefined;
  const accepted: Socket[] = [];
  let acceptedOne: () => void = () => undefined;

  beforeAll(async () => {
    const cluster = newCluster();
    a = await member(cluster);
    b = await member(cluster);
    await b.libp2p.handle(PROTO, (stream) => remote(stream));
    // Paused, as the tunnel's listener accepts: bytes wait in the kernel until the pipe starts.
    server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
      accepted.push(s);
      acceptedOne();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    server.close();
    await Promise.all([a.stop(), b.stop()]);
  });

  /** A client connected to `server`, its accepted socket, and a stream from a to b (with b's end). */
  async function setup(): Promise<{ client: Socket; socket: Socket; stream: Stream; far: Stream }> {
    const far = new Promise<Stream>((resolve) => {
      remote = resolve;
    });
    const stream = await a.libp2p.dialProtocol(b.libp2p.getMultiaddrs(), PROTO, { signal: AbortSignal.timeout(10_000) });
    // A first byte, so b has the stream whether or not the dial sent anything yet; b takes it off.
    stream.send(new Uint8Array([0x21]));
    const farEnd = await far;
    await new Promise<void>((resolve) => farEnd.addEventListener('message', () => resolve(), { once: true }));
    const got = new Promise<void>((resolve) => {
      acceptedOne = resolve;
    });
    const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
    await got;
    return { client, socket: accepted[accepted.length - 1], stream, far: farEnd };
  }

  function collect(s: Stream): { bytes: () => Buffer; ended: Promise<void> } {
    const parts: Buffer[] = [];
    s.addEventListener('message', (evt) => {
      parts.push(Buffer.from(evt.data.subarray()));
    });
    const ended = new Promise<void>((resolve) => s.addEventListener('remoteCloseWrite', () => resolve(), { once: true }));
    return { bytes: () => Buffer.concat(parts), ended };
  }

  function started(socket: Socket, stream: Stream): PipeCounters {
    const counters = { received: 0, sent: 0 };
    pipe(socket, stream, counters, 60_000);
    socket.resume();
    return counters;
  }

  it('sends the bytes of a turn\'s reads before the half-close that came with them', async () => {
    const { client, socket, stream, far } = await setup();
    const body = patternBytes(64 * 1024);
    // 64 writes and the FIN, all received by the kernel before the pipe starts: one full 64 KiB
    // read and the end of data in the same turn, before the batch of that turn's reads is sent.
    for (let off = 0; off < body.length; off += 1024) client.write(body.subarray(off, off + 1024));
    client.end();
    await until(() => finReceived(socket));
    const seen = collect(far);
    started(socket, stream);
    await seen.ended;
    expect(sha256hex(seen.bytes())).toBe(sha256hex(body));
    client.destroy();
    far.abort(new Error('done'));
  });

  it('sends a read shorter than 64 KiB at once, not at the end of the turn', async () => {
    const { client, socket, stream, far } = await setup();
    const seen = collect(far);
    started(socket, stream);
    // The stream's write queue empties ('idle') inside the pipe's own 'data' handler, which runs
    // before this later listener: the bytes were handed to the stream with their read.
    let idle = false;
    stream.addEventListener('idle', () => {
      idle = true;
    });
    const sentWithRead = new Promise<boolean>((resolve) => socket.once('data', () => resolve(idle)));
    client.write('hello');
    expect(await sentWithRead).toBe(true);
    client.end();
    await seen.ended;
    expect(seen.bytes().toString()).toBe('hello');
    client.destroy();
    far.abort(new Error('done'));
  });

  it('carries many small stream messages to the socket in order, then the end of data', async () => {
    const { client, socket, stream, far } = await setup();
    const body = patternBytes(256 * 1024 + 17);
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve) => client.once('end', resolve));
    started(socket, stream);
    for (let off = 0; off < body.length; off += 1000) far.send(body.subarray(off, off + 1000));
    await far.close();
    await ended;
    expect(sha256hex(Buffer.concat(chunks))).toBe(sha256hex(body));
    client.destroy();
  });

  it('holds a fast TCP sender back while the stream cannot take more: at most one batch waits in the stream', async () => {
    const { client, socket, stream, far } = await setup();
    far.pause();
    const body = patternBytes(64 * 1024 * 1024);
    client.end(body);
    const seen = collect(far);
    const counters = started(socket, stream);
    // The stream's window is full and b reads nothing: the pipe must stop reading its socket.
    await until(() => socket.isPaused() && stream.writeBufferLength > 0);
    // One batch (at most 256 KiB and the 64 KiB read that passed it) beyond the window.
    expect(stream.writeBufferLength).toBeLessThan(320 * 1024);
    // Taken off the socket: the window (never above Yamux's 2 MiB here) and that batch, not 64 MiB.
    expect(counters.sent).toBeLessThan(2.5 * 1024 * 1024);
    far.resume();
    await seen.ended;
    expect(sha256hex(seen.bytes())).toBe(sha256hex(body));
    client.destroy();
    far.abort(new Error('done'));
  });
});

/**
 * Whether the kernel has received the peer's FIN on this accepted socket (it is in CLOSE_WAIT),
 * so every byte before it is waiting in its receive queue (Linux, /proc/net/tcp).
 */
function finReceived(socket: Socket): boolean {
  const hex = (port: number | undefined): string => (port ?? 0).toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(socket.localPort)}`;
  const remote = `0100007F:${hex(socket.remotePort)}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1] === local && f[2] === remote && f[3] === '08';
  });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(cond()).toBe(true);
}
