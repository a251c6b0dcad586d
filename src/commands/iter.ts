import { decodeValue, encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { Entry, RangeOptions } from '../tree/index.ts';
import { type KeyCodec, type TreeDeps, binArg, boolArg, intArg, rawOf, rootOf, typedArg } from './args.ts';
import type { CommandContext, CommandSpec } from './spec.ts';

const ITER = 'tree.iterator';
const MAX_COUNT = 100_000;

interface OpenIterator {
  gen: AsyncGenerator<Entry>;
  close(): void;
}

function iterOf(ctx: CommandContext): OpenIterator {
  const it = ctx.client.state.get(ITER) as OpenIterator | undefined;
  if (it === undefined) throw new CrissError('ERR', 'no iterator is open on this connection: use ITERSTART first');
  return it;
}

async function take(gen: AsyncGenerator<Entry>, n: number): Promise<Entry[]> {
  const out: Entry[] = [];
  while (out.length < n) {
    const r = await gen.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

function writePairs(ctx: CommandContext, entries: Entry[], bin: boolean): void {
  // Convert first: a WRONGTYPE must not leave half an array on the wire.
  const flat = entries.flatMap((e) => (bin ? [rawOf(e.key), rawOf(e.val)] : [e.key, e.val]));
  ctx.reply.array(flat.length);
  for (const b of flat) ctx.reply.bulk(b);
}

/** An empty argument means "no bound"; any other is a key in the command's encoding. */
function bound(codec: KeyCodec, arg: Uint8Array, inclusive: boolean): RangeOptions['min'] {
  return arg.length === 0 ? undefined : { key: codec(arg), inclusive };
}

function iteratorCommands(deps: TreeDeps): CommandSpec[] {
  return [
    {
      name: 'ITERSTART', arity: -2, flags: ['readonly'], group: 'tree', since: '0.1.0',
      summary: 'Opens this connection\'s iterator over a tree, optionally bounded and reversed (closes any previous one).',
      arguments: [
        { name: 'tree', type: 'key' },
        { name: 'range', type: 'block', optional: true, arguments: [
          { name: 'min', type: 'string' }, { name: 'max', type: 'string' },
          { name: 'incmin', type: 'string' }, { name: 'incmax', type: 'string' }, { name: 'reverse', type: 'string' },
        ] },
      ],
      reply: 'Simple string OK. min/max are msgpack keys ("" for no bound); incmin/incmax/reverse are 1/0.',
      handler: async (ctx) => {
        const a = ctx.args;
        if (a.length !== 1 && a.length !== 6) throw new CrissError('ERR', 'wrong number of arguments for \'iterstart\' command');
        const opts: RangeOptions = a.length === 1 ? {} : {
          min: bound(typedArg, a[1], boolArg(a[3], 'incmin')),
          max: bound(typedArg, a[2], boolArg(a[4], 'incmax')),
          reverse: boolArg(a[5], 'reverse'),
        };
        const root = await rootOf(deps, a[0]);
        (ctx.client.state.get(ITER) as OpenIterator | undefined)?.close();
        const gen = deps.trees.range(root, opts);
        ctx.client.state.set(ITER, { gen, close: () => void gen.return(undefined) });
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'ITERNEXT', arity: -1, flags: ['readonly'], group: 'tree', since: '0.1.0',
      summary: 'Returns the next entries of this connection\'s iterator.',
      arguments: [{ name: 'count', type: 'integer', optional: true }],
      reply: 'Array of key, value, key, value… (msgpack), up to count pairs (default 1); an empty array once the iteration is over.',
      handler: async (ctx) => {
        if (ctx.args.length > 1) throw new CrissError('ERR', 'wrong number of arguments for \'iternext\' command');
        const n = ctx.args.length === 0 ? 1 : intArg(ctx.args[0], 'count', 1, MAX_COUNT);
        writePairs(ctx, await take(iterOf(ctx).gen, n), false);
      },
    },
    {
      name: 'ITERSTOP', arity: 1, flags: ['readonly', 'fast'], group: 'tree', since: '0.1.0',
      summary: 'Closes this connection\'s iterator.',
      arguments: [],
      reply: 'Simple string OK (also when none was open).',
      handler: (ctx) => {
        (ctx.client.state.get(ITER) as OpenIterator | undefined)?.close();
        ctx.client.state.delete(ITER);
        ctx.reply.simple('OK');
      },
    },
  ];
}

/**
 * SCAN-style paging with no server state: the cursor is the last key returned, so a page
 * resumes exactly after it even when the client comes back much later.
 */
function scanCommand(deps: TreeDeps, name: string, codec: KeyCodec, bin: boolean): CommandSpec {
  return {
    name, arity: -3, flags: ['readonly'], group: 'tree', since: '0.1.0',
    summary: `Pages through a tree's entries in key order with a stateless cursor${bin ? ' (raw bytes)' : ' (msgpack)'}.`,
    arguments: [
      { name: 'tree', type: 'key' }, { name: 'cursor', type: 'string' },
      { name: 'min', type: 'string', token: 'MIN', optional: true }, { name: 'max', type: 'string', token: 'MAX', optional: true },
      { name: 'exclmin', type: 'pure-token', token: 'EXCLMIN', optional: true },
      { name: 'exclmax', type: 'pure-token', token: 'EXCLMAX', optional: true },
      { name: 'rev', type: 'pure-token', token: 'REV', optional: true },
      { name: 'count', type: 'integer', token: 'COUNT', optional: true },
    ],
    reply: 'Array of two: the next cursor ("0" when the range is exhausted; start with "0") and an array of key, value, key, value…',
    handler: async (ctx) => {
      const a = ctx.args;
      let min: Uint8Array | undefined;
      let max: Uint8Array | undefined;
      let exclMin = false;
      let exclMax = false;
      let reverse = false;
      let count = 10;
      for (let i = 2; i < a.length; i++) {
        const word = Buffer.from(a[i]).toString('latin1').toUpperCase();
        const value = (): Uint8Array => {
          if (i + 1 >= a.length) throw new CrissError('ERR', 'syntax error');
          return a[++i];
        };
        if (word === 'MIN') min = codec(value());
        else if (word === 'MAX') max = codec(value());
        else if (word === 'EXCLMIN') exclMin = true;
        else if (word === 'EXCLMAX') exclMax = true;
        else if (word === 'REV') reverse = true;
        else if (word === 'COUNT') count = intArg(value(), 'COUNT', 1, MAX_COUNT);
        else throw new CrissError('ERR', 'syntax error');
      }
      const cursor = cursorKey(a[1]);
      const opts: RangeOptions = {
        min: min === undefined ? undefined : { key: min, inclusive: !exclMin },
        max: max === undefined ? undefined : { key: max, inclusive: !exclMax },
        reverse,
      };
      if (cursor !== undefined) opts[reverse ? 'max' : 'min'] = { key: cursor, inclusive: false };
      const root = await rootOf(deps, a[0]);
      const gen = deps.trees.range(root, opts);
      const page = await take(gen, count + 1);
      await gen.return(undefined);
      const more = page.length > count;
      if (more) page.pop();
      const next = more ? Buffer.from(page[page.length - 1].key).toString('base64url') : '0';
      const pairs = page.flatMap((e) => (bin ? [rawOf(e.key), rawOf(e.val)] : [e.key, e.val]));
      ctx.reply.array(2);
      ctx.reply.bulk(next);
      ctx.reply.array(pairs.length);
      for (const b of pairs) ctx.reply.bulk(b);
    },
  };
}

function cursorKey(arg: Uint8Array): Uint8Array | undefined {
  const text = Buffer.from(arg).toString('latin1');
  if (text === '0') return undefined;
  const key = Buffer.from(text, 'base64url');
  try {
    // A cursor is only ever a key we handed out; anything else is refused, not guessed at.
    if (key.length > 0 && encodeValue(decodeValue(key)).equals(key)) return key;
  } catch {
    // Falls through to the error below.
  }
  throw new CrissError('ERR', 'invalid cursor');
}

export function iterCommands(deps: TreeDeps): CommandSpec[] {
  return [...iteratorCommands(deps), scanCommand(deps, 'SCANTREE', typedArg, false), scanCommand(deps, 'SCANTREEBIN', binArg, true)];
}
