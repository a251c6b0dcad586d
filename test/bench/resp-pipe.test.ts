import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RespPipe } from '../../bench/resp-pipe.ts';
import { prng } from '../helpers/prng.ts';

/** A server that answers each command with the next canned reply, cut into random fragments. */
async function cannedServer(replies: Buffer[], seed: number): Promise<{ server: Server; port: number }> {
  const rnd = prng(seed);
  const server = createServer((socket) => {
    let next = 0;
    socket.on('data', () => {
      // One reply per data event is enough here: the client sends one command and awaits it.
      const bytes = replies[next++];
      for (let at = 0; at < bytes.length; ) {
        const n = 1 + Math.floor(rnd() * 7000);
        socket.write(bytes.subarray(at, at + n));
        at += n;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('bench RespPipe', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('reassembles simple, error, integer, nil, empty and large bulk replies split anywhere', async () => {
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const replies = [
      Buffer.from('+OK\r\n'),
      Buffer.from(':1048576\r\n'),
      Buffer.from('-ERR no upload is open\r\n'),
      Buffer.from('$-1\r\n'),
      Buffer.from('$0\r\n\r\n'),
      Buffer.concat([Buffer.from(`$${big.length}\r\n`), big, Buffer.from('\r\n')]),
      Buffer.from('$3\r\n\r\n\r\r\n'),
    ];
    const s = await cannedServer(replies, 7);
    server = s.server;
    const pipe = await RespPipe.open(s.port);
    const got = [];
    for (let i = 0; i < replies.length; i++) got.push(await pipe.send(['PING', Buffer.from([i])]));
    pipe.close();
    expect(got[0]).toBe('OK');
    expect(got[1]).toBe(1_048_576);
    expect(got[2]).toBeInstanceOf(Error);
    expect((got[2] as Error).message).toBe('ERR no upload is open');
    expect(got[3]).toBeNull();
    expect(got[4]).toEqual(Buffer.alloc(0));
    expect(Buffer.compare(got[5] as Buffer, big)).toBe(0);
    expect(got[6]).toEqual(Buffer.from('\r\n\r'));
  });

  it('resolves every pending command with an error when the connection drops', async () => {
    const s = await cannedServer([], 1);
    server = s.server;
    server.on('connection', (socket) => socket.destroy());
    const pipe = await RespPipe.open(s.port);
    const reply = await pipe.send(['FILEBEGIN']);
    expect(reply).toBeInstanceOf(Error);
  });
});
