import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specBytes } from '../tree/spec-bytes.ts';
import { type TreeServer, startTreeServer, text } from './tree-server.ts';

let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

const call = (...args: Array<string | Buffer | number>): Promise<unknown> => s.call(...args);

async function upload(data: Buffer, ttl = -1, piece = 1 << 20): Promise<string> {
  expect(text(await call('FILEBEGIN'))).toBe('OK');
  const acks = [];
  for (let o = 0; o < data.length; o += piece) acks.push(call('FILEWRITE', data.subarray(o, o + piece)));
  const counts = await Promise.all(acks);
  if (data.length > 0) expect(counts.at(-1)).toBe(data.length);
  return text(await call('FILEEND', ttl)) as string;
}

async function blockCount(): Promise<number> {
  let n = 0;
  for await (const _ of s.store.nodeLocations()) n++;
  for await (const _ of s.store.blobLocations()) n++;
  return n;
}

describe('file commands', () => {
  it('uploads in pipelined pieces and reads back sizes and byte ranges', async () => {
    const data = specBytes(3 * 1024 * 1024 + 17);
    const id = await upload(data);
    expect(id).toMatch(/^Qm/);
    expect(await call('FILESIZE', id)).toBe(data.length);
    expect(((await call('FILEREAD', id, 0, data.length)) as Buffer).equals(data)).toBe(true);
    expect((await call('FILEREAD', id, 1_000_000, 5)) as Buffer).toEqual(data.subarray(1_000_000, 1_000_005));
    expect(((await call('FILEREAD', id, data.length, 5)) as Buffer).length).toBe(0);
    expect(((await call('FILEREAD', id, 10, 0)) as Buffer).length).toBe(0);
    // The id depends only on the bytes, not on how they were sent.
    expect(await upload(data, 0, 12_345)).toBe(id);
  }, 30_000);

  it('stores an empty file as the empty tree and a short one inline', async () => {
    expect(await upload(Buffer.alloc(0))).toBe('QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj');
    const one = await upload(Buffer.from('x'));
    expect(await call('FILESIZE', one)).toBe(1);
    expect(text(await call('FILEREAD', one, 0, 100))).toBe('x');
  });

  it('answers misuse with clear errors and keeps serving', async () => {
    expect(text(await call('FILEWRITE', 'x'))).toMatch(/^ERROR ERR no upload is open/);
    expect(text(await call('FILEEND', -1))).toMatch(/^ERROR ERR no upload is open/);
    expect(text(await call('FILEBEGIN'))).toBe('OK');
    expect(text(await call('FILEBEGIN'))).toMatch(/already open/);
    expect(text(await call('FILEABORT'))).toBe('OK');
    expect(text(await call('FILEREAD', 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj', -1, 5))).toMatch(/offset must be/);
    expect(text(await call('FILEREAD', 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj', 0, 1e9))).toMatch(/length must be/);
    const notFile = text(await call('PUTMULTIBIN', '', 0, 'a', 'b')) as string;
    expect(text(await call('FILESIZE', notFile))).toMatch(/^ERROR WRONGTYPE .* is not a file/);
    expect(text(await call('PING'))).toBe('PONG');
  });

  it('leaves nothing visible when the client goes away mid-upload', async () => {
    const before = await blockCount();
    const other = new Redis({ port: s.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await other.connect();
    await other.call('FILEBEGIN');
    await other.callBuffer('FILEWRITE', specBytes(2 * 1024 * 1024));
    other.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    expect(await blockCount()).toBe(before);
  });
  it('keeps the chunks of a reply the socket has not taken yet while other reads reuse buffers', async () => {
    // Different bytes in each file: a chunk buffer handed back too early would show the other file's bytes.
    const stalledData = randomBytes(24 * 1024 * 1024);
    const otherData = randomBytes(24 * 1024 * 1024);
    const stalled = await upload(stalledData);
    const other = await upload(otherData);
    const reusedBefore = s.store.readBuffers.stats.reused;
    const sock = connect({ port: s.port, host: '127.0.0.1' });
    await once(sock, 'connect');
    // Nothing is read from the socket, so most of the 24 MiB reply waits in the daemon's socket queue.
    sock.pause();
    sock.write(`*4\r\n$8\r\nFILEREAD\r\n$${stalled.length}\r\n${stalled}\r\n$1\r\n0\r\n$${String(stalledData.length).length}\r\n${stalledData.length}\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    for (let round = 0; round < 3; round++) {
      for (let o = 0; o < otherData.length; o += 1 << 20) {
        expect(((await call('FILEREAD', other, o, 1 << 20)) as Buffer).equals(otherData.subarray(o, o + (1 << 20)))).toBe(true);
      }
    }
    expect(s.store.readBuffers.stats.reused).toBeGreaterThan(reusedBefore);
    const head = `$${stalledData.length}\r\n`;
    const want = head.length + stalledData.length + 2;
    const got: Buffer[] = [];
    let n = 0;
    sock.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
    });
    sock.resume();
    while (n < want) await once(sock, 'data');
    sock.destroy();
    const reply = Buffer.concat(got);
    expect(reply.subarray(0, head.length).toString()).toBe(head);
    expect(reply.subarray(head.length, head.length + stalledData.length).equals(stalledData)).toBe(true);
  }, 60_000);
});

describe('directory commands', () => {
  it('matches the golden vectors of docs/format.md §13', async () => {
    const hello = await upload(Buffer.from('hello'));
    expect(hello).toBe('QmPFSW9t7xP3b7smVZxYypX2FZo6PqWLivDAhBYBpjDMKY');
    expect(text(await call('DIRPUT', '', 0, 'a/b.txt', hello, 'empty/', ''))).toBe('QmVrqjJWxQHcdT66A9cqudZC1upQ92SahV6Q1c8BEwCfBp');
  });

  it('builds a directory with nested paths, unicode names, empty files and empty directories', async () => {
    const a = await upload(specBytes(200_000));
    const empty = await upload(Buffer.alloc(0));
    const d1 = text(await call('DIRPUT', '', -1, 'docs/guide/intro.md', a, 'empty.txt', empty, 'void/', '', 'ünïcødé/日本.txt', a)) as string;
    expect(text(await call('DIRLIST', d1))).toEqual([
      ['docs/', -1, null],
      ['docs/guide/', -1, null],
      ['docs/guide/intro.md', 200_000, a],
      ['empty.txt', 0, empty],
      ['void/', -1, null],
      ['ünïcødé/', -1, null],
      ['ünïcødé/日本.txt', 200_000, a],
    ]);
    expect(text(await call('DIRLIST', d1, 'docs/guide/'))).toEqual([['docs/guide/', -1, null], ['docs/guide/intro.md', 200_000, a]]);
    // Merging gives the id a single upload of the union would give.
    const d2 = text(await call('DIRPUT', d1, -1, 'docs/more.md', empty)) as string;
    const all = text(await call('DIRPUT', '', -1, 'docs/more.md', empty, 'ünïcødé/日本.txt', a, 'void/', '', 'empty.txt', empty, 'docs/guide/intro.md', a)) as string;
    expect(d2).toBe(all);
  });

  it('refuses bad paths and a path that would be both a file and a directory', async () => {
    const f = await upload(Buffer.from('hi'));
    for (const bad of ['/abs', 'a//b', 'a/../b', './a', '', 'nul\0byte']) {
      expect(text(await call('DIRPUT', '', 0, bad, f))).toMatch(/^ERROR ERR invalid path/);
    }
    const d = text(await call('DIRPUT', '', 0, 'a/b', f)) as string;
    expect(text(await call('DIRPUT', d, 0, 'a', f))).toMatch(/^ERROR CONFLICT 'a' cannot be both a file and a directory/);
    expect(text(await call('DIRPUT', d, 0, 'a/b/c', f))).toMatch(/^ERROR CONFLICT 'a\/b' cannot be both/);
    expect(text(await call('DIRPUT', d, 0, 'x/', f))).toMatch(/its file argument must be ""/);
    expect(text(await call('DIRPUT', d, 0, 'x', ''))).toMatch(/needs a file id/);
    expect(text(await call('DIRPUT', d, 0, 'x', 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVX'))).toMatch(/^ERROR BADID|^ERROR NOTFOUND/);
    expect(text(await call('DIRLIST', f))).toMatch(/^ERROR WRONGTYPE .* is not a directory/);
  });
});

describe('lifetime commands', () => {
  it('GC frees what nothing pins, reports it, and INFO store shows it', async () => {
    const kept = await upload(specBytes(1_500_000), -1);
    const dir = text(await call('DIRPUT', '', -1, 'kept.bin', kept)) as string;
    await upload(specBytes(2_500_000).reverse(), 0);
    const reply = text(await call('GC')) as unknown[];
    const fields = Object.fromEntries(Array.from({ length: reply.length / 2 }, (_, i) => [reply[2 * i], reply[2 * i + 1]]));
    expect(fields.freed_blocks).toBeGreaterThan(0);
    expect(fields.freed_blob_bytes).toBeGreaterThan(2_000_000);
    expect(fields.missing_blocks).toBe(0);
    expect(((await call('FILEREAD', kept, 0, 1_500_000)) as Buffer).equals(specBytes(1_500_000))).toBe(true);
    expect(text(await call('DIRLIST', dir))).toEqual([['kept.bin', 1_500_000, kept]]);
    const info = text(await call('INFO', 'store')) as string;
    for (const f of ['store_bytes_on_disk', 'store_live_blocks', 'store_pinned_roots', 'gc_last_at_ms', 'gc_last_duration_ms', 'gc_last_freed_blocks', 'gc_last_freed_bytes']) {
      expect(info).toMatch(new RegExp(`${f}:\\d+`));
    }
  });

  it('PERSIST and COMPACT pin an existing tree', async () => {
    const f = await upload(specBytes(300_000), 0);
    expect(text(await call('PERSIST', f, -1))).toBe('OK');
    expect(text(await call('COMPACT', f, -1))).toBe(f);
    await call('GC');
    expect(await call('FILESIZE', f)).toBe(300_000);
  });
});
