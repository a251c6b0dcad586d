import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';
import { runFile } from './sqllogictest.ts';

/** A slice of every corpus file; `npm run sqllogictest` runs all of it through a real daemon. */
const SLICE: Array<[string, number]> = [['select1.test', 250], ['select2.test', 150], ['select3.test', 200], ['select4.test', 100], ['select5.test', 40]];

let s: TreeServer;
beforeAll(async () => {
  s = await startTreeServer();
});
afterAll(async () => {
  await s?.close();
});

describe('sqllogictest through SQL/SQLREAD', { timeout: 120_000 }, () => {
  for (const [file, limit] of SLICE) {
    it(`${file}: first ${limit} queries pass`, async () => {
      const r = await runFile(s.redis, file, limit);
      expect(r.failures).toEqual([]);
      expect(r.passed).toBe(limit);
    });
  }
});
