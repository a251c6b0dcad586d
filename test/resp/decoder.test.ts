import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BULK_BUFFER_BYTES } from '../../src/resp/bulk-buffers.ts';
import { RespDecoder, RespProtocolError, type DecoderLimits } from '../../src/resp/decoder.ts';

interface Outcome {
  commands: string[][];
  error?: string;
}

/** Feeds `chunks` and pulls every command, like the connection does after each chunk. */
function decode(chunks: Buffer[], options: { limits?: Partial<DecoderLimits>; unauthenticated?: boolean } = {}): Outcome {
  const decoder = new RespDecoder(options.limits);
  decoder.unauthenticated = options.unauthenticated ?? false;
  const commands: string[][] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    try {
      for (let cmd = decoder.next(); cmd !== undefined; cmd = decoder.next()) {
        commands.push(cmd.map((a) => a.toString('latin1')));
      }
    } catch (e) {
      if (!(e instanceof RespProtocolError)) throw e;
      return { commands, error: e.message };
    }
  }
  return { commands };
}

function byteByByte(input: Buffer): Buffer[] {
  return [...input].map((b) => Buffer.from([b]));
}

/** Runs a case whole, byte by byte and split in three: the outcome must not depend on chunking. */
function check(input: string | Buffer, expected: Outcome, options: Parameters<typeof decode>[1] = {}): void {
  const bytes = Buffer.from(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  expect(decode([bytes], options), 'one chunk').toEqual(expected);
  expect(decode(byteByByte(bytes), options), 'byte by byte').toEqual(expected);
  const a = Math.floor(bytes.length / 3);
  const b = Math.floor((2 * bytes.length) / 3);
  expect(decode([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)], options), 'three chunks').toEqual(expected);
}

const ok = (...commands: string[][]): Outcome => ({ commands });
const fail = (error: string, ...commands: string[][]): Outcome => ({ commands, error: `Protocol error: ${error}` });

describe('RespDecoder: multibulk', () => {
  const cases: Array<[string, string | Buffer, Outcome]> = [
    ['one command', '*1\r\n$4\r\nPING\r\n', ok(['PING'])],
    ['a pipeline', '*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n', ok(['ECHO', 'hi'], ['PING'], ['SET', 'k', ''])],
    ['binary bulk with CRLF and NUL inside', Buffer.from('*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\0\xffb\r\n', 'latin1'), ok(['ECHO', 'a\r\n\0\xffb'])],
    ['empty frames are ignored', '*0\r\n*-10\r\n*-1\r\n*1\r\n$1\r\nx\r\n', ok(['x'])],
    ['the two bytes after a bulk are not checked (like Redis)', '*1\r\n$1\r\naXXping\r\n', ok(['a'], ['ping'])],
    ['commands before an error are returned', '*1\r\n$4\r\nPING\r\n*abc\r\n*1\r\n$4\r\nPING\r\n', fail('invalid multibulk length', ['PING'])],
    ['non-numeric count', '*abc\r\n', fail('invalid multibulk length')],
    ['count beyond a signed int', '*3000000000\r\n', fail('invalid multibulk length')],
    ['count over the default arg limit', '*1048577\r\n', fail('invalid multibulk length')],
    ['leading zero', '*01\r\n', fail('invalid multibulk length')],
    ['minus zero', '*-0\r\n', fail('invalid multibulk length')],
    ['plus sign', '*+1\r\n', fail('invalid multibulk length')],
    ['empty count', '*\r\n', fail('invalid multibulk length')],
    ['negative count beyond 64 bits', '*-99999999999999999999\r\n', fail('invalid multibulk length')],
    ['negative count within 64 bits is ignored', '*-9223372036854775808\r\n*1\r\n$1\r\nx\r\n', ok(['x'])],
    ['missing $', '*1\r\nfoo\r\n', fail("expected '$', got 'f'")],
    ['missing $ shows CR as a space', '*1\r\n\r\n', fail("expected '$', got ' '")],
    ['missing $ shows a raw byte', Buffer.from('*1\r\n\xff\r\n', 'latin1'), fail("expected '$', got '\xff'")],
    ['negative bulk length', '*1\r\n$-10\r\n', fail('invalid bulk length')],
    ['nil bulk in a request', '*1\r\n$-1\r\n', fail('invalid bulk length')],
    ['bulk length over the limit', '*1\r\n$2000000000\r\n', fail('invalid bulk length')],
    ['non-numeric bulk length', '*1\r\n$blabla\r\n', fail('invalid bulk length')],
    ['bulk length with leading zero', '*1\r\n$01\r\na\r\n', fail('invalid bulk length')],
  ];
  for (const [name, input, expected] of cases) it(name, () => check(input, expected));

  it('rejects a count line longer than the inline limit', () => {
    check(`*${'1'.repeat(70_000)}`, fail('too big mbulk count string'));
    check(`*${'1'.repeat(70_000)}\r\n`, fail('too big mbulk count string'));
  });

  it('rejects a bulk header longer than the inline limit', () => {
    check(`*1\r\n$${'1'.repeat(70_000)}`, fail('too big bulk count string'));
  });

  it('waits for the LF after the CR of a header', () => {
    const d = new RespDecoder();
    d.push(Buffer.from('*1\r'));
    expect(d.next()).toBeUndefined();
    d.push(Buffer.from('\n$1\r'));
    expect(d.next()).toBeUndefined();
    d.push(Buffer.from('\nx\r\n'));
    expect(d.next()?.map(String)).toEqual(['x']);
  });

  it('applies the unauthenticated limits only while unauthenticated', () => {
    const eleven = `*11\r\n${'$1\r\na\r\n'.repeat(11)}`;
    check(eleven, fail('unauthenticated multibulk length'), { unauthenticated: true });
    check(eleven, ok(Array(11).fill('a')));
    check(`*10\r\n${'$1\r\na\r\n'.repeat(10)}`, ok(Array(10).fill('a')), { unauthenticated: true });
    const big = `*1\r\n$16385\r\n${'b'.repeat(16385)}\r\n`;
    check(big, fail('unauthenticated bulk length'), { unauthenticated: true });
    check(`*1\r\n$16384\r\n${'b'.repeat(16384)}\r\n`, ok(['b'.repeat(16384)]), { unauthenticated: true });
  });

  it('takes its limits from options', () => {
    const limits = { maxArgs: 3, maxBulkLength: 5, maxInlineLength: 10 };
    check('*4\r\n', fail('invalid multibulk length'), { limits });
    check('*1\r\n$6\r\n', fail('invalid bulk length'), { limits });
    check('*1\r\n$5\r\nabcde\r\n', ok(['abcde']), { limits });
    check('PING 12345678\r\n', fail('too big inline request'), { limits });
    check('PING 1234\r\n', ok(['PING', '1234']), { limits });
  });
});

describe('RespDecoder: inline', () => {
  const cases: Array<[string, string | Buffer, Outcome]> = [
    ['CRLF', 'PING\r\n', ok(['PING'])],
    ['bare LF', 'PING\n', ok(['PING'])],
    ['extra blanks', ' \t set   a \t b  \r\n', ok(['set', 'a', 'b'])],
    ['blank lines are ignored', '\r\n\n   \r\nPING\r\n', ok(['PING'])],
    ['double quotes with spaces', 'set "a b" c\r\n', ok(['set', 'a b', 'c'])],
    ['single quotes', "set 'a \"b' c\r\n", ok(['set', 'a "b', 'c'])],
    ['escapes in double quotes', 'x "\\x41\\x4a\\n\\r\\t\\b\\a\\"\\\\\\q"\r\n', ok(['x', 'AJ\n\r\t\b\x07"\\q'])],
    ['an invalid hex escape is a plain x', 'x "\\xzz"\r\n', ok(['x', 'xzz'])],
    ['escaped quote in single quotes', "x 'it\\'s \\n'\r\n", ok(['x', "it's \\n"])],
    ['empty quoted argument', 'x "" \'\'\r\n', ok(['x', '', ''])],
    ['a quote inside a word opens a quoted part', 'x a"b c"\r\n', ok(['x', 'ab c'])],
    ['vertical tab inside a word is kept', 'x a\x0bb\r\n', ok(['x', 'a\x0bb'])],
    ['a NUL byte is an ordinary byte', 'x a\0b\r\n', ok(['x', 'a\0b'])],
    ['a closing quote followed by a non-space', 'set """k""" v\r\n', fail('unbalanced quotes in request')],
    ['a quote closed then a letter', 'echo "a"b\r\n', fail('unbalanced quotes in request')],
    ['an unterminated double quote', 'echo "a\r\n', fail('unbalanced quotes in request')],
    ['an escaped closing quote', 'echo "a\\"\r\n', fail('unbalanced quotes in request')],
    ['an unterminated single quote', "echo 'a\r\n", fail('unbalanced quotes in request')],
    ['$ first is just an inline word', '$blabla\r\n', ok(['$blabla'])],
    ['mixed with multibulk', 'PING\r\n*1\r\n$4\r\nPING\r\nPING\n', ok(['PING'], ['PING'], ['PING'])],
  ];
  for (const [name, input, expected] of cases) it(name, () => check(input, expected));

  it('rejects more than 64 KiB without a newline, and a longer line', () => {
    check('x'.repeat(65_537), fail('too big inline request'));
    check(`${'x'.repeat(65_537)}\r\n`, fail('too big inline request'));
    check(`${'x'.repeat(65_536)}\n`, ok(['x'.repeat(65_536)]));
  });
});

describe('RespDecoder: buffers', () => {
  it('returns views into the chunk, not copies', () => {
    const chunk = Buffer.from('*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n');
    const d = new RespDecoder();
    d.push(chunk);
    const [name, arg] = d.next()!;
    expect(name.buffer).toBe(chunk.buffer);
    expect(arg.buffer).toBe(chunk.buffer);
    expect(d.buffered).toBe(0);
  });

  it('does not allocate what a header declares before the bytes arrive', () => {
    const before = process.memoryUsage().arrayBuffers;
    const decoders: RespDecoder[] = [];
    for (let i = 0; i < 20; i++) {
      const d = new RespDecoder();
      d.push(Buffer.from('*1048576\r\n$536870912\r\nabc'));
      expect(d.next()).toBeUndefined();
      d.push(Buffer.from('*1\r\n'));
      expect(d.next()).toBeUndefined();
      decoders.push(d);
    }
    // 20 declared 512 MiB bulks: anything near their size would show in the tens of GiB.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    expect(decoders[0].buffered).toBe(7);
  });

  it('assembles a large bulk arriving in many chunks', () => {
    const value = Buffer.alloc(3_000_001, 7);
    const input = Buffer.concat([Buffer.from(`*2\r\n$4\r\nECHO\r\n$${value.length}\r\n`), value, Buffer.from('\r\n*1\r\n$4\r\nPING\r\n')]);
    const d = new RespDecoder();
    const got: Buffer[][] = [];
    for (let at = 0; at < input.length; at += 65_536) {
      d.push(input.subarray(at, at + 65_536));
      for (let cmd = d.next(); cmd !== undefined; cmd = d.next()) got.push(cmd);
    }
    expect(got).toHaveLength(2);
    expect(got[0][1].equals(value)).toBe(true);
    expect(got[1].map(String)).toEqual(['PING']);
  });

  it('keeps failing after an error and ignores further input', () => {
    const d = new RespDecoder();
    d.push(Buffer.from('*x\r\n'));
    expect(() => d.next()).toThrow('Protocol error: invalid multibulk length');
    d.push(Buffer.from('*1\r\n$4\r\nPING\r\n'));
    expect(() => d.next()).toThrow(RespProtocolError);
    expect(d.buffered).toBe(0);
  });

  it('types its errors', () => {
    const d = new RespDecoder();
    d.push(Buffer.from('*1\r\nfoo\r\n'));
    try {
      d.next();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RespProtocolError);
      expect((e as RespProtocolError).kind).toBe('expected $');
    }
  });
});

/** `*N` command of `args`, each a Buffer, as one frame. */
function frame(...args: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n')])]);
}

/** Feeds `input` in socket-sized chunks; `onCommand` sees each command as it is decoded. */
function feed(d: RespDecoder, input: Buffer, onCommand: (cmd: Buffer[]) => void): void {
  for (let at = 0; at < input.length; at += 65_536) {
    d.push(input.subarray(at, at + 65_536));
    for (let cmd = d.next(); cmd !== undefined; cmd = d.next()) onCommand(cmd);
  }
}

describe('RespDecoder: shared bulk buffers', () => {
  const MiB = 1024 * 1024;
  const piece = (fill: number, size = MiB): Buffer => frame(Buffer.from('FILEWRITE'), Buffer.alloc(size, fill));

  it('reuses the buffers of recycled commands for later input', () => {
    const d = new RespDecoder();
    const buffers = new Set<ArrayBufferLike>();
    let n = 0;
    feed(d, Buffer.concat(Array.from({ length: 12 }, (_, i) => piece(i + 1))), (cmd) => {
      n++;
      expect(cmd[1].equals(Buffer.alloc(MiB, n))).toBe(true);
      expect(d.holds(cmd)).toBe(true);
      buffers.add(cmd[1].buffer);
      d.recycle(cmd);
    });
    expect(n).toBe(12);
    // Without reuse every piece past the first chunk would gather into a buffer of its own.
    expect(buffers.size).toBeLessThanOrEqual(3);
    for (const b of buffers) expect(b.byteLength).toBe(BULK_BUFFER_BYTES);
  });

  it('never reuses the buffer of a command that was not recycled', () => {
    const d = new RespDecoder();
    let kept: Buffer[] | undefined;
    let n = 0;
    feed(d, Buffer.concat([piece(0xaa), ...Array.from({ length: 8 }, (_, i) => piece(i))]), (cmd) => {
      if (kept === undefined) kept = cmd;
      else {
        expect(cmd[1].equals(Buffer.alloc(MiB, n++))).toBe(true);
        d.recycle(cmd);
      }
    });
    expect(n).toBe(8);
    expect(kept![1].equals(Buffer.alloc(MiB, 0xaa))).toBe(true);
  });

  it('keeps a command\'s first arguments while the rest arrive in another buffer', () => {
    const d = new RespDecoder();
    const a = Buffer.alloc(1_500_000, 0x11);
    const b = Buffer.alloc(1_500_000, 0x22);
    const got: Buffer[][] = [];
    feed(d, Buffer.concat([frame(Buffer.from('ECHO2'), a, b), piece(0x33), piece(0x44)]), (cmd) => {
      got.push(cmd);
      if (got.length > 1) d.recycle(cmd);
    });
    expect(got).toHaveLength(3);
    expect(got[0][1].buffer).not.toBe(got[0][2].buffer);
    expect(got[0][1].equals(a)).toBe(true);
    expect(got[0][2].equals(b)).toBe(true);
  });

  it('never changes the bytes of a command not recycled, whatever the chunking and whichever commands are recycled', () => {
    const command = fc.record({
      size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 100_000, max: 3 * MiB })),
      args: fc.integer({ min: 1, max: 3 }),
      recycle: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 8 }), (cmds, cuts) => {
        // Each argument's bytes tell which command and argument they are.
        const expected = cmds.map((c, n) => Array.from({ length: c.args }, (_, a) => Buffer.alloc(c.size, (n * 7 + a * 3 + 1) & 0xff)));
        const input = Buffer.concat(expected.map((args) => Buffer.concat([Buffer.from(`*${args.length + 1}\r\n$9\r\nFILEWRITE\r\n`), ...args.flatMap((x) => [Buffer.from(`$${x.length}\r\n`), x, Buffer.from('\r\n')])])));
        const d = new RespDecoder();
        const kept: Array<{ n: number; cmd: Buffer[] }> = [];
        let n = 0;
        let at = 0;
        for (let k = 0; at < input.length; k++) {
          const len = cuts[k % cuts.length];
          d.push(input.subarray(at, at + len));
          at += len;
          for (let cmd = d.next(); cmd !== undefined; cmd = d.next(), n++) {
            expect(cmd.slice(1).every((x, a) => x.equals(expected[n][a]))).toBe(true);
            if (cmds[n].recycle) d.recycle(cmd);
            else kept.push({ n, cmd });
          }
        }
        expect(n).toBe(cmds.length);
        for (const { n: i, cmd } of kept) expect(cmd.slice(1).every((x, a) => x.equals(expected[i][a]))).toBe(true);
      }),
      { numRuns: 40, seed: 20261202 },
    );
  });

  it('leaves small commands out of it', () => {
    const d = new RespDecoder();
    d.push(frame(Buffer.from('GET'), Buffer.from('k')));
    const cmd = d.next()!;
    expect(d.holds(cmd)).toBe(false);
  });
});

describe('RespDecoder: any chunking gives the same result', () => {
  const piece = fc.oneof(
    fc.constantFrom('*', '$', '\r\n', '\r', '\n', '"', "'", '\\', ' ', '*1\r\n', '*2\r\n', '$3\r\n', '$0\r\n', 'PING', 'x', '\\x4', '-', '0'),
    fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b).toString('latin1')),
    fc.array(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 3 }).map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`),
  );
  const input = fc.array(piece, { maxLength: 30 }).map((p) => Buffer.from(p.join(''), 'latin1'));

  it('one chunk, byte by byte and random splits agree', () => {
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (bytes, cuts, unauthenticated) => {
        const options = { unauthenticated, limits: { maxInlineLength: 40 } };
        const whole = decode([bytes], options);
        expect(decode(byteByByte(bytes), options)).toEqual(whole);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(last, p));
          last = p;
        }
        chunks.push(bytes.subarray(last));
        expect(decode(chunks, options)).toEqual(whole);
      }),
      { numRuns: 1500, seed: 20241123 },
    );
  });
});
