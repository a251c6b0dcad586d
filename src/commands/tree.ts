import { BIN8 } from '../codec/format.ts';
import { CrissError } from '../errors.ts';
import { idToText } from '../store/id.ts';
import { MISSING, type Mutation, type TreeNode } from '../tree/index.ts';
import { type KeyCodec, type TreeDeps, binArg, rawOf, replyValue, rootOf, ttlArg, typedArg } from './args.ts';
import { iterCommands } from './iter.ts';
import type { ArgumentDoc, CommandContext, CommandSpec } from './spec.ts';
import { varCommands } from './vars.ts';

const TREE: ArgumentDoc = { name: 'tree', type: 'key', display_text: 'tree' };
const TTL: ArgumentDoc = { name: 'ttl', type: 'integer', display_text: 'ttl' };

/** Room for a bin8 key (a *BIN key of up to 255 bytes) encoded for a read that stays synchronous. */
const scratch = Buffer.allocUnsafe(2 + 0xff);
/** Views of `scratch` by payload length, made once: a cached FETCHBIN allocates no key. */
const scratchViews: Buffer[] = [];

/** `arg` (at most 255 bytes) encoded as binArg would, in `scratch`: valid until the next call, so only for a synchronous read. */
function scratchKey(arg: Uint8Array): Uint8Array {
  const n = arg.length;
  scratch[0] = BIN8;
  scratch[1] = n;
  scratch.set(arg, 2);
  return (scratchViews[n] ??= scratch.subarray(0, n + 2));
}

function fetchCommand(deps: TreeDeps, name: string, codec: KeyCodec, bin: boolean): CommandSpec {
  const fetchAsync = (ctx: CommandContext, root: TreeNode, key: Uint8Array): Promise<void> =>
    deps.trees.get(root, key).then((v) => replyValue(ctx.reply, v, bin));
  const fetch = (ctx: CommandContext, root: TreeNode, key: Uint8Array): void | Promise<void> => {
    const hit = deps.trees.getSync(root, key);
    return hit === MISSING ? fetchAsync(ctx, root, key) : replyValue(ctx.reply, hit, bin);
  };
  /** A short *BIN key: encoded into `scratch` for the cached path, into a buffer of its own only if the read waits. */
  const fetchShort = (ctx: CommandContext, root: TreeNode): void | Promise<void> => {
    const hit = deps.trees.getSync(root, scratchKey(ctx.args[1]));
    return hit === MISSING ? fetchAsync(ctx, root, codec(ctx.args[1])) : replyValue(ctx.reply, hit, bin);
  };
  return {
    name, arity: 3, flags: ['readonly', 'fast'], group: 'tree', since: '0.1.0', independent: true,
    summary: `Returns the value of a key in a tree${bin ? ' as raw bytes' : ' as msgpack'}.`,
    arguments: [TREE, { name: 'key', type: 'string' }],
    reply: `Bulk string: the value${bin ? ' (raw bytes of a bytes or string value; WRONGTYPE for other types)' : ' in canonical msgpack'}. Nil when the key is absent. NOTFOUND when the tree is unknown.`,
    handler: (ctx) => {
      if (codec === binArg && ctx.args[1].length <= 0xff) {
        const root = rootOf(deps, ctx.args[0]);
        return root instanceof Promise ? root.then((r) => fetchShort(ctx, r)) : fetchShort(ctx, root);
      }
      const key = codec(ctx.args[1]);
      const root = rootOf(deps, ctx.args[0]);
      return root instanceof Promise ? root.then((r) => fetch(ctx, r, key)) : fetch(ctx, root, key);
    },
  };
}

function getMultiCommand(deps: TreeDeps, name: string, codec: KeyCodec, bin: boolean): CommandSpec {
  return {
    name, arity: -3, flags: ['readonly'], group: 'tree', since: '0.1.0', independent: true,
    summary: `Returns the values of several keys in a tree${bin ? ' as raw bytes' : ' as msgpack'}.`,
    arguments: [TREE, { name: 'key', type: 'string', multiple: true }],
    reply: 'Array with one bulk string per key, in the order asked; nil for an absent key.',
    handler: async (ctx) => {
      const keys = ctx.args.slice(1).map(codec);
      const root = await rootOf(deps, ctx.args[0]);
      const values = await deps.trees.getMany(root, keys);
      // Convert before writing: a WRONGTYPE must not leave half an array on the wire.
      const out = bin ? values.map((v) => (v === undefined ? v : rawOf(v))) : values;
      ctx.reply.array(out.length);
      for (const v of out) replyValue(ctx.reply, v, false);
    },
  };
}

function hasKeyCommand(deps: TreeDeps, name: string, codec: KeyCodec): CommandSpec {
  return {
    name, arity: 3, flags: ['readonly', 'fast'], group: 'tree', since: '0.1.0', independent: true,
    summary: 'Tells whether a tree holds a key.',
    arguments: [TREE, { name: 'key', type: 'string' }],
    reply: 'Integer: 1 when the key is present, 0 when not.',
    handler: async (ctx) => {
      const key = codec(ctx.args[1]);
      const root = await rootOf(deps, ctx.args[0]);
      ctx.reply.integer((await deps.trees.has(root, key)) ? 1 : 0);
    },
  };
}

/** Writes are validated whole before anything is written: a bad argument writes nothing. */
async function writeTree(deps: TreeDeps, ctx: CommandContext, muts: Mutation[]): Promise<void> {
  const ttl = ttlArg(ctx.args[1]);
  const root = await rootOf(deps, ctx.args[0]);
  const next = await deps.trees.write(root, muts, ttl);
  ctx.reply.bulk(idToText(next));
}

function putMultiCommand(deps: TreeDeps, name: string, codec: KeyCodec, typed: KeyCodec): CommandSpec {
  return {
    name, arity: -5, flags: ['write'], group: 'tree', since: '0.1.0', independent: true,
    summary: `Puts key/value pairs into a tree and returns the new root${codec === binArg ? ' (raw bytes, stored as the type bytes)' : ' (msgpack keys and values)'}.`,
    arguments: [TREE, TTL, { name: 'data', type: 'block', multiple: true, arguments: [{ name: 'key', type: 'string' }, { name: 'value', type: 'string' }] }],
    reply: 'Bulk string: the base58 id of the new root, pinned for ttl ms (-1 forever, 0 not pinned). The old root stays valid.',
    handler: (ctx) => {
      const a = ctx.args;
      if ((a.length - 2) % 2 !== 0) throw new CrissError('ERR', `wrong number of arguments for '${name.toLowerCase()}' command`);
      const muts: Mutation[] = [];
      for (let i = 2; i < a.length; i += 2) muts.push({ key: codec(a[i]), val: typed(a[i + 1]) });
      return writeTree(deps, ctx, muts);
    },
  };
}

function delMultiCommand(deps: TreeDeps, name: string, codec: KeyCodec): CommandSpec {
  return {
    name, arity: -4, flags: ['write'], group: 'tree', since: '0.1.0', independent: true,
    summary: 'Deletes keys from a tree and returns the new root.',
    arguments: [TREE, TTL, { name: 'key', type: 'string', multiple: true }],
    reply: 'Bulk string: the base58 id of the new root (the same id when no key was present).',
    handler: (ctx) => writeTree(deps, ctx, ctx.args.slice(2).map((k) => ({ key: codec(k), val: null }))),
  };
}

function statCommands(deps: TreeDeps): CommandSpec[] {
  return [
    {
      name: 'BYTESWRITTEN', arity: 2, flags: ['readonly', 'fast'], group: 'tree', since: '0.1.0',
      summary: 'Returns the bytes of every block of a tree (what storing or cloning it costs).',
      arguments: [TREE],
      reply: 'Integer: bytes of all the tree\'s nodes, read from its root alone (linked trees not included).',
      handler: async (ctx) => ctx.reply.integer((await rootOf(deps, ctx.args[0])).size),
    },
    {
      name: 'KEYCOUNT', arity: 2, flags: ['readonly', 'fast'], group: 'tree', since: '0.1.0',
      summary: 'Returns the number of keys in a tree.',
      arguments: [TREE],
      reply: 'Integer: the number of entries, read from the root alone.',
      handler: async (ctx) => ctx.reply.integer((await rootOf(deps, ctx.args[0])).count),
    },
    {
      name: 'PERSIST', arity: 3, flags: ['write'], group: 'tree', since: '0.1.0',
      summary: 'Pins an existing tree for ttl ms (-1 forever); never shortens an existing pin.',
      arguments: [TREE, TTL],
      reply: 'Simple string OK. NOTFOUND when the tree is unknown.',
      handler: async (ctx) => {
        const ttl = ttlArg(ctx.args[1]);
        const root = await rootOf(deps, ctx.args[0]);
        await deps.trees.persist(root, ttl);
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'DIFF', arity: 3, flags: ['readonly'], group: 'tree', since: '0.1.0',
      summary: 'Lists the keys whose values differ between two trees, in key order.',
      arguments: [{ ...TREE, name: 'a', display_text: 'a' }, { ...TREE, name: 'b', display_text: 'b' }],
      reply: 'Array of [key, value in a, value in b] triples (msgpack bulk strings; nil where the key is absent).',
      handler: async (ctx) => {
        const [a, b] = await Promise.all([rootOf(deps, ctx.args[0]), rootOf(deps, ctx.args[1])]);
        const out: Array<[Uint8Array, Uint8Array | undefined, Uint8Array | undefined]> = [];
        for await (const d of deps.trees.diff(a, b)) out.push([d.key, d.before, d.after]);
        ctx.reply.array(out.length);
        for (const [k, before, after] of out) {
          ctx.reply.array(3);
          ctx.reply.bulk(k);
          replyValue(ctx.reply, before, false);
          replyValue(ctx.reply, after, false);
        }
      },
    },
  ];
}

/** Every tree and variable command but VARWITH, which runs the others through the Dispatcher. */
export function treeCommands(d: TreeDeps): CommandSpec[] {
  return [
    putMultiCommand(d, 'PUTMULTI', typedArg, typedArg),
    putMultiCommand(d, 'PUTMULTIBIN', binArg, binArg),
    delMultiCommand(d, 'DELMULTI', typedArg),
    delMultiCommand(d, 'DELMULTIBIN', binArg),
    getMultiCommand(d, 'GETMULTI', typedArg, false),
    getMultiCommand(d, 'GETMULTIBIN', binArg, true),
    fetchCommand(d, 'FETCH', typedArg, false),
    fetchCommand(d, 'FETCHBIN', binArg, true),
    hasKeyCommand(d, 'HASKEY', typedArg),
    hasKeyCommand(d, 'HASKEYBIN', binArg),
    ...statCommands(d),
    ...iterCommands(d),
    ...varCommands(d),
  ];
}
