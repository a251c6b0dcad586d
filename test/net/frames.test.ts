import { lpStream, streamPair } from '@libp2p/utils';
import { describe, expect, it } from 'vitest';
import { FrameStream } from '../../src/net/frames.ts';

const never = (): AbortSignal => new AbortController().signal;

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Sizes around every varint length boundary. */
const SIZES = [0, 1, 127, 128, 129, 16_383, 16_384, 300_000];

describe('length-prefixed frames (src/net/frames.ts)', () => {
  it("reads lpStream's frames, whole and split at every byte, and lpStream reads its frames", async () => {
    const [a, b] = await streamPair();
    const frames = new FrameStream(b, 1 << 20);
    const lp = lpStream(a);
    for (const [i, n] of SIZES.entries()) await lp.write(bytes(n, i));
    // The same frames, one byte per message: a length and a body may end anywhere.
    const parts: Uint8Array[] = [];
    for (const [i, n] of SIZES.entries()) {
      const prefix: number[] = [];
      let len = n;
      while (len >= 0x80) {
        prefix.push((len & 0x7f) | 0x80);
        len >>>= 7;
      }
      prefix.push(len);
      parts.push(Uint8Array.from(prefix), bytes(n, 100 + i));
    }
    const raw = Buffer.concat(parts);
    for (let i = 0; i < 40_000; i++) a.send(raw.subarray(i, i + 1));
    a.send(raw.subarray(40_000));
    for (const [i, n] of SIZES.entries()) expect((await frames.read(never())).subarray()).toEqual(bytes(n, i));
    for (const [i, n] of SIZES.entries()) expect((await frames.read(never())).subarray()).toEqual(bytes(n, 100 + i));

    const back = lpStream(b);
    const out = new FrameStream(a, 1 << 20);
    for (const [i, n] of SIZES.entries()) await out.write(bytes(n, 200 + i), never());
    for (const [i, n] of SIZES.entries()) expect((await back.read()).subarray()).toEqual(bytes(n, 200 + i));
  });

  it('refuses a frame over its limit, and a length longer than five bytes', async () => {
    const [a, b] = await streamPair();
    const frames = new FrameStream(b, 1000);
    await lpStream(a).write(bytes(1001, 1));
    await expect(frames.read(never())).rejects.toThrow('peer sent a 1001-byte frame, over the 1000-byte limit');
    const [c, d] = await streamPair();
    const long = new FrameStream(d, 1000);
    c.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01));
    await expect(long.read(never())).rejects.toThrow('peer sent a frame length longer than 5 bytes');
  });

  it('says whether the peer closed between frames or inside one, and stops waiting when aborted', async () => {
    const [a, b] = await streamPair();
    const frames = new FrameStream(b, 1000);
    await lpStream(a).write(bytes(10, 1));
    a.send(Uint8Array.of(20, 1, 2, 3));
    await a.close();
    expect((await frames.read(never())).subarray()).toEqual(bytes(10, 1));
    await expect(frames.read(never())).rejects.toThrow('the peer closed the stream in the middle of a frame');

    const [c, d] = await streamPair();
    const clean = new FrameStream(d, 1000);
    await c.close();
    await expect(clean.read(never())).rejects.toThrow('the peer closed the stream');

    const [, e] = await streamPair();
    const waiting = new FrameStream(e, 1000);
    const stop = new AbortController();
    const read = waiting.read(stop.signal);
    stop.abort(new Error('given up'));
    await expect(read).rejects.toThrow('given up');
  });
});
