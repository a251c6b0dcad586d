import { endsWith, exchange, frame, type Exchange } from './helpers.ts';

/**
 * redis-compat.md's malformed-input table, plus neighbours. Each case is sent on a fresh
 * connection followed by a sentinel; a server that keeps the connection open answers the
 * sentinel, one that closes it does not, so no case depends on waiting for silence.
 */
export interface MalformedCase {
  name: string;
  input: Buffer;
  /** Replies to `input` alone (the sentinel's reply is added when the socket stays open). */
  reply: string;
  closed: boolean;
  /** Run against a server with a password (the client starts unauthenticated). */
  password?: boolean;
  /** Redis 7.0 answers differently; the reason is in the name. */
  differsFromRedis?: boolean;
  /**
   * Send no sentinel: its CR would let Redis, which reads as much as is available, find a line
   * end after the limit and answer differently. Only for cases that close.
   */
  noSentinel?: boolean;
}

export const PASSWORD = 'secret';
const TOKEN = 'sentinel-7f3a';
const SENTINEL = frame('ECHO', TOKEN);
const SENTINEL_REPLY = `$${TOKEN.length}\r\n${TOKEN}\r\n`;
const AUTH_SENTINEL = Buffer.concat([frame('AUTH', PASSWORD), SENTINEL]);
const AUTH_SENTINEL_REPLY = `+OK\r\n${SENTINEL_REPLY}`;

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const err = (text: string): string => `-ERR Protocol error: ${text}\r\n`;

export const MALFORMED_CASES: MalformedCase[] = [
  { name: 'an empty line', input: b('\r\n'), reply: '', closed: false },
  { name: '*-10', input: b('*-10\r\n'), reply: '', closed: false },
  { name: '*0', input: b('*0\r\n'), reply: '', closed: false },
  { name: 'blank inline lines then PING', input: b('\n\n ping\n'), reply: '+PONG\r\n', closed: false },
  { name: '*3000000000', input: b('*3000000000\r\n'), reply: err('invalid multibulk length'), closed: true },
  { name: '*abc', input: b('*abc\r\n'), reply: err('invalid multibulk length'), closed: true },
  { name: '*01 (leading zero)', input: b('*01\r\n'), reply: err('invalid multibulk length'), closed: true },
  { name: 'no $ before an argument', input: b('*1\r\nfoo\r\n'), reply: err("expected '$', got 'f'"), closed: true },
  { name: 'an empty line instead of $', input: b('*1\r\n\r\n'), reply: err("expected '$', got ' '"), closed: true },
  { name: 'a raw byte instead of $', input: b('*1\r\n\xff\r\n'), reply: err("expected '$', got '\xff'"), closed: true },
  { name: '$-10', input: b('*1\r\n$-10\r\n'), reply: err('invalid bulk length'), closed: true },
  { name: '$2000000000 (over the bulk limit)', input: b('*1\r\n$2000000000\r\n'), reply: err('invalid bulk length'), closed: true },
  { name: '$blabla as a bulk header', input: b('*1\r\n$blabla\r\n'), reply: err('invalid bulk length'), closed: true },
  { name: 'inline unbalanced quotes', input: b('set """k""" v\r\n'), reply: err('unbalanced quotes in request'), closed: true },
  { name: 'inline unterminated quote', input: b('echo "abc\r\n'), reply: err('unbalanced quotes in request'), closed: true },
  { name: 'more than 64 KiB of inline bytes', input: b('x'.repeat(100_000)), reply: err('too big inline request'), closed: true, noSentinel: true },
  { name: '* then more than 64 KiB without CR', input: b(`*${'1'.repeat(100_000)}`), reply: err('too big mbulk count string'), closed: true, noSentinel: true },
  { name: '$ then more than 64 KiB without CR', input: b(`*1\r\n$${'1'.repeat(100_000)}`), reply: err('too big bulk count string'), closed: true, noSentinel: true },
  { name: 'commands before a protocol error are answered', input: b('PING\r\n*abc\r\nPING\r\n'), reply: `+PONG\r\n${err('invalid multibulk length')}`, closed: true },
  { name: 'the two bytes after a bulk are not checked', input: b('*1\r\n$1\r\naXXping\r\n'), reply: "-ERR unknown command 'a', with args beginning with: \r\n+PONG\r\n", closed: false },
  { name: 'QUIT ignores what follows', input: b('quit\r\nping\r\n'), reply: '+OK\r\n', closed: true },
  { name: 'HTTP POST', input: b('POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'), reply: '', closed: true },
  { name: 'HTTP GET with Host:', input: b('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), reply: '', closed: true },
  { name: 'POST as a multibulk command', input: frame('post'), reply: '', closed: true },
  {
    name: '*2147483647 (over our 1,048,576-argument limit; Redis waits for the arguments)',
    input: b('*2147483647\r\n'),
    reply: err('invalid multibulk length'),
    closed: true,
    differsFromRedis: true,
  },
  { name: 'unauthenticated: 11 arguments', input: b('*11\r\n'), reply: err('unauthenticated multibulk length'), closed: true, password: true },
  { name: 'unauthenticated: a 16385-byte bulk', input: b('*1\r\n$16385\r\n'), reply: err('unauthenticated bulk length'), closed: true, password: true },
  {
    name: 'unauthenticated: 10 arguments are fine (and get NOAUTH)',
    input: frame('INFO', ...Array<string>(9).fill('a')),
    reply: '-NOAUTH Authentication required.\r\n',
    closed: false,
    password: true,
  },
  {
    name: 'unauthenticated: a 16384-byte bulk is fine',
    input: frame('y'.repeat(16384)),
    reply: `-ERR unknown command '${'y'.repeat(128)}', with args beginning with: \r\n`,
    closed: false,
    password: true,
  },
  { name: 'unauthenticated: POST still closes silently', input: b('POST / HTTP/1.1\r\n'), reply: '', closed: true, password: true },
];

/** Sends a case plus its sentinel; resolves with what came back and whether the socket closed. */
export function runCase(port: number, c: MalformedCase): Promise<Exchange> {
  if (c.noSentinel) return exchange(port, c.input);
  const tail = c.password ? AUTH_SENTINEL_REPLY : SENTINEL_REPLY;
  return exchange(port, Buffer.concat([c.input, c.password ? AUTH_SENTINEL : SENTINEL]), endsWith(tail));
}

/** What a conforming server sends back for `c`, sentinel included. */
export function expectedReply(c: MalformedCase): string {
  if (c.closed) return c.reply;
  return c.reply + (c.password ? AUTH_SENTINEL_REPLY : SENTINEL_REPLY);
}
