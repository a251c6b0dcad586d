import { describe, expect, it } from 'vitest';
import { ReplyBuffer, type ReplySink } from '../../src/resp/writer.ts';

/** A sink that records what it was given; `accept` decides what `write` returns. */
function sink(accept = true): ReplySink & { chunks: Uint8Array[]; text(): string; corks: number } {
  const chunks: Uint8Array[] = [];
  const s = {
    chunks,
    corks: 0,
    write(chunk: Uint8Array) {
      chunks.push(chunk);
      return accept;
    },
    cork() {
      s.corks++;
    },
    uncork() {},
    text: () => Buffer.concat(chunks).toString('latin1'),
  };
  return s;
}

function written(protocol: 2 | 3, build: (w: ReplyBuffer) => void): string {
  const w = new ReplyBuffer();
  w.protocol = protocol;
  build(w);
  const s = sink();
  w.flush(s);
  return s.text();
}

describe('ReplyBuffer encodes', () => {
  const both: Array<[string, (w: ReplyBuffer) => void, string, string]> = [
    ['simple', (w) => w.simple('OK'), '+OK\r\n', '+OK\r\n'],
    ['a long simple string', (w) => w.simple('x'.repeat(40)), `+${'x'.repeat(40)}\r\n`, `+${'x'.repeat(40)}\r\n`],
    ['error', (w) => w.error('WRONGTYPE', 'bad type'), '-WRONGTYPE bad type\r\n', '-WRONGTYPE bad type\r\n'],
    ['CR and LF inside an error become spaces', (w) => w.error('ERR', 'a\r\nb\nc'), '-ERR a  b c\r\n', '-ERR a  b c\r\n'],
    ['integer', (w) => w.integer(-42), ':-42\r\n', ':-42\r\n'],
    ['int64 bigint', (w) => w.integer(-(2n ** 63n)), ':-9223372036854775808\r\n', ':-9223372036854775808\r\n'],
    ['bigint beyond 64 bits', (w) => w.integer(2n ** 64n), '$20\r\n18446744073709551616\r\n', '(18446744073709551616\r\n'],
    ['bulk bytes', (w) => w.bulk(Buffer.from('a\r\nb')), '$4\r\na\r\nb\r\n', '$4\r\na\r\nb\r\n'],
    ['empty bulk', (w) => w.bulk(''), '$0\r\n\r\n', '$0\r\n\r\n'],
    ['nil', (w) => w.nil(), '$-1\r\n', '_\r\n'],
    ['array', (w) => (w.array(2), w.integer(1), w.nil()), '*2\r\n:1\r\n$-1\r\n', '*2\r\n:1\r\n_\r\n'],
    ['map', (w) => (w.map(1), w.bulk('k'), w.integer(1)), '*2\r\n$1\r\nk\r\n:1\r\n', '%1\r\n$1\r\nk\r\n:1\r\n'],
    ['double', (w) => w.double(1.5), '$3\r\n1.5\r\n', ',1.5\r\n'],
    ['infinite double', (w) => (w.double(Infinity), w.double(-Infinity), w.double(NaN)), '$3\r\ninf\r\n$4\r\n-inf\r\n$3\r\nnan\r\n', ',inf\r\n,-inf\r\n,nan\r\n'],
    ['boolean', (w) => (w.boolean(true), w.boolean(false)), ':1\r\n:0\r\n', '#t\r\n#f\r\n'],
    ['verbatim', (w) => w.verbatim('a:1\r\n'), '$5\r\na:1\r\n\r\n', '=9\r\ntxt:a:1\r\n\r\n'],
  ];
  for (const [name, build, resp2, resp3] of both) {
    it(name, () => {
      expect(written(2, build)).toBe(resp2);
      expect(written(3, build)).toBe(resp3);
    });
  }

  it('writes strings as UTF-8, counting bytes', () => {
    const w = new ReplyBuffer();
    w.bulk('héllo €');
    w.simple('ok ✓');
    w.error('ERR', 'clé');
    const s = sink();
    w.flush(s);
    expect(Buffer.concat(s.chunks).toString('utf8')).toBe('$10\r\nhéllo €\r\n+ok ✓\r\n-ERR clé\r\n');
  });

  it('writes errorLatin1 one byte per character', () => {
    const w = new ReplyBuffer();
    w.errorLatin1("ERR got '\xff'");
    const s = sink();
    w.flush(s);
    expect([...Buffer.concat(s.chunks)]).toEqual([...Buffer.from("-ERR got '\xff'\r\n", 'latin1')]);
  });
});

describe('ReplyBuffer flushing', () => {
  it('hands everything over in one write and starts empty again', () => {
    const w = new ReplyBuffer();
    for (let i = 0; i < 1000; i++) w.integer(i);
    const s = sink();
    expect(w.flush(s)).toBe(true);
    expect(s.chunks).toHaveLength(1);
    expect(w.length).toBe(0);
    expect(w.flush(s)).toBe(true);
    expect(s.chunks).toHaveLength(1);
  });

  it('reports back-pressure from the sink', () => {
    const w = new ReplyBuffer();
    w.simple('OK');
    expect(w.flush(sink(false))).toBe(false);
  });

  it('grows past its initial capacity', () => {
    const w = new ReplyBuffer();
    const big = 'y'.repeat(50_000);
    for (let i = 0; i < 3; i++) w.bulk(big);
    const s = sink();
    w.flush(s);
    expect(s.text()).toBe(`$50000\r\n${big}\r\n`.repeat(3));
  });

  it('queues a large bulk value by reference, in order, corked', () => {
    const w = new ReplyBuffer();
    const value = Buffer.alloc(100_000, 97);
    w.simple('before');
    w.bulk(value);
    w.simple('after');
    const s = sink();
    w.flush(s);
    expect(s.chunks).toContain(value);
    expect(s.corks).toBe(1);
    expect(s.text()).toBe(`+before\r\n$100000\r\n${'a'.repeat(100_000)}\r\n+after\r\n`);
  });

  it('writes one bulk from pieces, large ones by reference, small ones copied', () => {
    const big = Buffer.alloc(100_000, 98);
    const w = new ReplyBuffer();
    w.bulkParts([Buffer.from('xy'), big, Buffer.from('z')]);
    w.bulkParts([]);
    const s = sink();
    w.flush(s);
    expect(s.chunks).toContain(big);
    expect(s.text()).toBe(`$100003\r\nxy${'b'.repeat(100_000)}z\r\n$0\r\n\r\n`);
  });

  it('says a bulk of pieces was written only once the sink wrote every piece it holds by reference', () => {
    const calls: Array<() => void> = [];
    const later: ReplySink = {
      write(_chunk, done) {
        if (done !== undefined) calls.push(done);
        return true;
      },
    };
    const inner = new ReplyBuffer();
    let done = 0;
    inner.bulkParts([Buffer.alloc(70_000, 1), Buffer.from('x'), Buffer.alloc(80_000, 2)], () => done++);
    // As an overlapped command's reply joins the connection's output: the callback travels with it.
    const outer = new ReplyBuffer();
    inner.flush({ write: (chunk, written) => (outer.append(chunk, written), true) });
    outer.flush(later);
    expect(calls.length).toBe(2);
    calls[0]();
    expect(done).toBe(0);
    calls[1]();
    expect(done).toBe(1);
  });

  it('says a bulk of small pieces was written as soon as they are copied', () => {
    const w = new ReplyBuffer();
    let done = 0;
    w.bulkParts([Buffer.from('ab'), Buffer.from('c')], () => done++);
    expect(done).toBe(1);
    w.bulkParts([], () => done++);
    expect(done).toBe(2);
  });

  it('does not let a flushed chunk change when the buffer is reused', () => {
    const w = new ReplyBuffer();
    w.simple('first');
    const s = sink();
    w.flush(s);
    w.simple('second');
    w.flush(s);
    expect(s.text()).toBe('+first\r\n+second\r\n');
  });

  it('rewinds a partial reply that was not flushed', () => {
    const w = new ReplyBuffer();
    w.simple('kept');
    const mark = w.mark();
    w.array(3);
    w.bulk('x');
    expect(w.rewind(mark)).toBe(true);
    w.error('ERR', 'failed');
    const s = sink();
    w.flush(s);
    expect(s.text()).toBe('+kept\r\n-ERR failed\r\n');
  });

  it('cannot rewind past a flush', () => {
    const w = new ReplyBuffer();
    const mark = w.mark();
    w.array(2);
    w.flush(sink());
    expect(w.rewind(mark)).toBe(false);
    expect(w.rewind(w.mark())).toBe(true);
  });
});
