import { DatabaseSync } from 'node:sqlite';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { decodeValue } from '../../src/codec/index.ts';
import { type TreeServer, startTreeServer } from '../commands/tree-server.ts';

export type Result = Map<string, unknown>;

const decode = (b: Buffer): Result => decodeValue(b) as Result;

/** `SQL root 0 stmts…` decoded: the new root and each statement's result map. */
export async function sql(redis: Redis, root: string, ...stmts: string[]): Promise<{ root: string; results: Result[] }> {
  const reply = (await redis.callBuffer('SQL', root, '0', ...stmts)) as Buffer[];
  return { root: reply[0].toString(), results: reply.slice(1).map(decode) };
}

export async function sqlRead(redis: Redis, root: string, ...stmts: string[]): Promise<Result[]> {
  return ((await redis.callBuffer('SQLREAD', root, ...stmts)) as Buffer[]).map(decode);
}

/** The rows of a single query. */
export async function rows(redis: Redis, root: string, query: string): Promise<unknown[][]> {
  return (await sqlRead(redis, root, query))[0].get('rows') as unknown[][];
}

/** The error text a call fails with (the test fails if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the call to fail');
}

/**
 * For a suite that checks our answers against SQLite's: an in-process daemon and an in-memory
 * node:sqlite database, both given `setup` before the suite and closed after it.
 */
export function againstSqlite(setup: string[]): { redis: () => Redis; root: () => string; native: DatabaseSync } {
  const native = new DatabaseSync(':memory:');
  let s: TreeServer | undefined;
  let root = '';
  beforeAll(async () => {
    s = await startTreeServer();
    root = (await sql(s.redis, '', ...setup)).root;
    for (const stmt of setup) native.exec(stmt);
  });
  afterAll(async () => {
    native.close();
    await s?.close();
  });
  return { redis: () => (s as TreeServer).redis, root: () => root, native };
}
