import type { Redis } from 'ioredis';
import { decodeValue } from '../../src/codec/index.ts';

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
