import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, frame, rawClient, startServer, type TestServer } from './helpers.ts';
import { MALFORMED_CASES, PASSWORD, expectedReply, runCase } from './malformed-cases.ts';

let open: TestServer;
let locked: TestServer;

beforeAll(async () => {
  open = await startServer();
  locked = await startServer({ password: PASSWORD });
});

afterAll(async () => {
  await open.close();
  await locked.close();
});

describe('malformed input, each on a fresh connection', () => {
  for (const c of MALFORMED_CASES) {
    it(`${c.name}: ${c.closed ? 'error then close' : 'stays open'}`, async () => {
      const { data, closed } = await runCase(c.password ? locked.port : open.port, c);
      expect(data.toString('latin1')).toBe(expectedReply(c));
      expect(closed).toBe(c.closed);
    });
  }
});

describe('after a protocol error', () => {
  it('discards whatever the client keeps sending, and closes', async () => {
    const client = await rawClient(open.port);
    client.socket.write('*1\r\nfoo\r\n');
    // Keep writing while the server closes: none of it may be buffered or executed.
    const junk = frame('ECHO', 'z'.repeat(1024 * 1024));
    for (let i = 0; i < 16 && !client.socket.destroyed; i++) client.socket.write(junk);
    await client.closed;
    expect(client.received().toString()).toBe("-ERR Protocol error: expected '$', got 'f'\r\n");
    const again = await exchange(open.port, 'PING\r\n', (d) => d.length >= 7);
    expect(again.data.toString()).toBe('+PONG\r\n');
  });

  it('closes only the offending connection', async () => {
    const bystander = await rawClient(open.port);
    await exchange(open.port, '*x\r\n');
    bystander.socket.write('PING\r\n');
    expect((await bystander.waitForBytes(7)).toString()).toBe('+PONG\r\n');
    bystander.socket.destroy();
  });
});
