import { describe, expect, it } from 'vitest';
import { encodeCommand, ReplyError, RespReader, type Reply } from '../../src/cli/resp.ts';

const WIRE = Buffer.concat([
  Buffer.from('+OK\r\n:42\r\n:-1\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n-ERR no such key\r\n'),
  Buffer.from('*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n-WRONGTYPE nested\r\n'),
  Buffer.from('$11\r\n\r\nbin\0ary\r\n\r\n'),
]);

const EXPECTED: Array<Reply | string> = [
  Buffer.from('OK'),
  42,
  -1,
  Buffer.from('hello'),
  Buffer.alloc(0),
  null,
  null,
  [],
  'error: ERR no such key',
  [Buffer.from('a'), [1, null], Buffer.from('WRONGTYPE nested')],
  Buffer.from('\r\nbin\0ary\r\n'),
];

function parse(chunks: Buffer[]): Array<Reply | string> {
  const out: Array<Reply | string> = [];
  const reader = new RespReader((r) => out.push(r instanceof ReplyError ? `error: ${r.message}` : r));
  for (const c of chunks) reader.feed(c);
  return out;
}

describe('RespReader', () => {
  it('parses every RESP2 reply type, arrays nested', () => {
    expect(parse([WIRE])).toEqual(EXPECTED);
  });

  it('gives the same replies however the bytes are split', () => {
    for (let i = 0; i <= WIRE.length; i++) {
      for (const j of [i, Math.min(WIRE.length, i + 1), Math.min(WIRE.length, i + 7)]) {
        expect(parse([WIRE.subarray(0, i), WIRE.subarray(i, j), WIRE.subarray(j)])).toEqual(EXPECTED);
      }
    }
    expect(parse([...WIRE].map((b) => Buffer.from([b])))).toEqual(EXPECTED);
  });

  it('fills a big bulk string in one buffer of its exact size', () => {
    const body = Buffer.alloc(3 * 65536 + 11, 7);
    const wire = Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n:1\r\n')]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 65536) chunks.push(wire.subarray(i, i + 65536));
    const [big, one] = parse(chunks) as [Buffer, number];
    expect(big.equals(body)).toBe(true);
    expect(big.buffer.byteLength).toBe(body.length);
    expect(one).toBe(1);
  });

  it('refuses a byte that starts no reply', () => {
    expect(() => parse([Buffer.from('?what\r\n')])).toThrow(/PROTOCOL unexpected reply type/);
  });
});

describe('encodeCommand', () => {
  it('writes a RESP array of bulk strings, binary arguments as they are', () => {
    const big = Buffer.from([0, 13, 10, 255]);
    const parts = encodeCommand('FILEWRITE', ['é', big, '']);
    expect(Buffer.concat(parts).toString('latin1')).toBe(
      Buffer.concat([Buffer.from('*4\r\n$9\r\nFILEWRITE\r\n$2\r\né\r\n$4\r\n'), big, Buffer.from('\r\n$0\r\n\r\n')]).toString('latin1'),
    );
    expect(parts).toContain(big);
  });
});
