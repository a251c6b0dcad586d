import { canonicalize, encodeBytes } from '../codec/index.ts';
import { Head, readHead } from '../codec/head.ts';
import { MAX_VALUE_BYTES, RANK_BYTES, RANK_STRING } from '../codec/format.ts';
import { CrissError } from '../errors.ts';
import { type Id, parseId } from '../store/id.ts';
import type { Vars } from '../store/vars.ts';
import type { TreeNode, Trees } from '../tree/index.ts';
import type { ReplyWriter } from '../resp/reply.ts';

/** What every tree-family command needs. */
export interface TreeDeps {
  trees: Trees;
  vars: Vars;
}

const NIL_WORD = Buffer.from('nil');
const parsedIds = new Map<string, Id>();
const MAX_PARSED_IDS = 10_000;

/**
 * A tree argument: base58 text or raw multihash bytes, `""`/`nil` for the empty tree, or
 * `^name` for the id held by variable `name`. Synchronous unless variables are still loading.
 */
export function treeArg(deps: TreeDeps, arg: Uint8Array): Id | Promise<Id> {
  if (arg.length === 0 || (arg.length === 3 && Buffer.compare(arg, NIL_WORD) === 0)) return deps.trees.emptyRoot;
  if (arg[0] === 0x5e /* ^ */) {
    const name = arg.subarray(1);
    const held = deps.vars.getSync(name);
    if (held === null) return deps.vars.get(name).then((v) => treeArg(deps, varId(name, v)));
    return treeArg(deps, varId(name, held));
  }
  // Parsing base58 costs microseconds: remember recent ids, since clients repeat them.
  const text = Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength).toString('latin1');
  let id = parsedIds.get(text);
  if (id === undefined) {
    id = parseId(arg);
    if (parsedIds.size >= MAX_PARSED_IDS) parsedIds.clear();
    parsedIds.set(text, id);
  }
  return id;
}

/**
 * The last root named by its id, kept as the argument's bytes: clients hammer one root, and
 * a byte comparison is far cheaper than decoding base58 and looking the node up again. Nodes
 * are immutable, so holding one is always safe. `^variables` never take this path.
 */
const lastRoot = new WeakMap<TreeDeps, { arg: Buffer; root: TreeNode }>();

/** Resolves a tree argument to its root node, synchronously when everything is cached. */
export function rootOf(deps: TreeDeps, arg: Uint8Array): TreeNode | Promise<TreeNode> {
  const last = lastRoot.get(deps);
  if (last !== undefined && last.arg.equals(arg)) return last.root;
  const id = treeArg(deps, arg);
  if (id instanceof Promise) return id.then((i) => deps.trees.root(i));
  const root = deps.trees.root(id);
  if (root instanceof Promise || arg.length < 2 || arg[0] === 0x5e) return root;
  lastRoot.set(deps, { arg: Buffer.from(arg), root });
  return root;
}

/** A variable's value is read like a tree argument itself (but one level only: no `^` chains). */
function varId(name: Uint8Array, value: Uint8Array | undefined): Uint8Array {
  if (value === undefined) throw new CrissError('NOTFOUND', `variable '${Buffer.from(name).toString()}' is not set`);
  if (value[0] === 0x5e) throw new CrissError('BADID', `variable '${Buffer.from(name).toString()}' holds another variable's name, not a tree id`);
  return value;
}

export function ttlArg(arg: Uint8Array): number {
  const text = Buffer.from(arg).toString('latin1');
  const n = /^-?\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < -1) throw new CrissError('ERR', `invalid TTL '${text.slice(0, 32)}': use milliseconds, or -1 for forever`);
  return n;
}

export function intArg(arg: Uint8Array, what: string, min: number, max: number): number {
  const text = Buffer.from(arg).toString('latin1');
  const n = /^-?\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CrissError('ERR', `${what} must be an integer from ${min} to ${max}`);
  return n;
}

export function boolArg(arg: Uint8Array, what: string): boolean {
  const text = Buffer.from(arg).toString('latin1').toLowerCase();
  if (text === '1' || text === 'true') return true;
  if (text === '0' || text === 'false') return false;
  throw new CrissError('ERR', `${what} must be 1/0 or true/false`);
}

/** Typed commands take msgpack; *BIN commands take raw bytes, which are the type *bytes*. */
export type KeyCodec = (arg: Uint8Array) => Uint8Array;
export const typedArg: KeyCodec = (arg) => canonicalize(checkSize(arg));
export const binArg: KeyCodec = (arg) => encodeBytes(checkSize(arg));

function checkSize(arg: Uint8Array): Uint8Array {
  if (arg.length > MAX_VALUE_BYTES) throw new CrissError('TOOBIG', `a key or value is limited to ${MAX_VALUE_BYTES} bytes`);
  return arg;
}

const head = new Head();

/** A value for a *BIN reply: the raw bytes of a bytes or string value; other types do not fit. */
export function rawOf(canonical: Uint8Array): Uint8Array {
  readHead(canonical, 0, head);
  if (head.rank === RANK_BYTES || head.rank === RANK_STRING) return canonical.subarray(head.start, head.start + head.len);
  throw new CrissError('WRONGTYPE', 'the value is not bytes or a string: use the typed command (without BIN) to read it as msgpack');
}

/** Writes a stored value: msgpack as-is for typed commands, raw bytes for *BIN commands. */
export function replyValue(reply: ReplyWriter, canonical: Uint8Array | undefined, bin: boolean): void {
  if (canonical === undefined) reply.nil();
  else reply.bulk(bin ? rawOf(canonical) : canonical);
}
