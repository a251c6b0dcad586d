import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/cli/client.ts';
import { type TreeServer, startTreeServer, text } from '../commands/tree-server.ts';

let s: TreeServer;
let tree: string;
const big = randomBytes(200_000);
const other = randomBytes(200_000);
beforeAll(async () => {
  s = await startTreeServer();
  tree = text(await s.call('PUTMULTIBIN', '', '-1', 'a', big, 'b', other)) as string;
});
afterAll(async () => {
  await s?.close();
});

describe('the CLI connection', () => {
  it('reads a later reply of the same size into a buffer given back, never into a view', async () => {
    const c = await connect({ host: '127.0.0.1', port: s.port });
    try {
      const first = (await c.call('FETCHBIN', tree, 'a')) as Buffer;
      expect(first.equals(big)).toBe(true);
      c.recycle(first);
      // Pipelined: only one of the two replies can take the buffer given back.
      const [second, third] = (await Promise.all([c.call('FETCHBIN', tree, 'b'), c.call('FETCHBIN', tree, 'a')])) as Buffer[];
      expect(second).toBe(first);
      expect(third).not.toBe(first);
      expect(second.equals(other)).toBe(true);
      expect(third.equals(big)).toBe(true);
      // A view of the right size into a bigger buffer may share memory with something else.
      const view = Buffer.alloc(400_000).subarray(0, 200_000);
      c.recycle(view);
      const fourth = (await c.call('FETCHBIN', tree, 'a')) as Buffer;
      expect(fourth).not.toBe(view);
      expect(fourth.equals(big)).toBe(true);
    } finally {
      await c.close();
    }
  });
});
