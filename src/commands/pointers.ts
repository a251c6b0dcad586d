import { CrissError } from '../errors.ts';
import { KEY_BYTES, parseKey } from '../net/identity.ts';
import type { Network } from '../net/network.ts';
import { MAX_POINTER_VALUE } from '../net/pointer-record.ts';
import { ttlArg, intArg } from './args.ts';
import { CLUSTER, TTL, clusterArg, networkOf } from './cluster-net.ts';
import type { CommandSpec } from './spec.ts';

const KEY_HELP = 'a 32-byte Ed25519 seed, raw or as the base58 PrivateKey KEYPAIR prints';

/** The raw 32-byte seed, or its base58 text: base58 of 32 bytes is 43 or 44 characters, so the two never collide. */
function seedArg(arg: Uint8Array): Buffer {
  if (arg.length === KEY_BYTES) return Buffer.from(arg);
  try {
    return parseKey(Buffer.from(arg).toString('latin1'), 'private_key');
  } catch (e) {
    throw new CrissError('ERR', `${(e as Error).message}: private_key must be ${KEY_HELP}`);
  }
}

function nameArg(arg: Uint8Array): string {
  const text = Buffer.from(arg).toString('latin1');
  parseKey(text, 'pointer name');
  return text;
}

export function pointerCommands(deps: { net: Network | undefined }): CommandSpec[] {
  return [
    {
      name: 'POINTERSET', arity: 5, flags: ['write', 'blocking'], group: 'cluster', since: '0.3.0',
      summary: 'Publishes value under the key pair\'s pointer name on the cluster\'s DHT, signed, at the generation after the newest the cluster holds; republished while ttl ms last.',
      arguments: [CLUSTER, { name: 'private_key', type: 'string' }, { name: 'value', type: 'string' }, TTL],
      reply: `Bulk string: the pointer name (the key pair's Name, base58). private_key is ${KEY_HELP}; value is at most ${MAX_POINTER_VALUE} bytes; ttl -1 never expires.`,
      handler: async (ctx) => {
        const [clusterWord, keyWord, value, ttlWord] = ctx.args;
        const cluster = clusterArg(deps, clusterWord);
        const seed = seedArg(keyWord);
        if (value.length > MAX_POINTER_VALUE) throw new CrissError('TOOBIG', `a pointer value is at most ${MAX_POINTER_VALUE} bytes, not ${value.length}`);
        const ttl = ttlArg(ttlWord);
        if (ttl === 0) throw new CrissError('ERR', 'POINTERSET needs a TTL: milliseconds, or -1 for forever');
        const net = networkOf(deps);
        const set = await net.pointers.set(net.node(cluster), seed, value, ttl);
        ctx.reply.bulk(set.name);
      },
    },
    {
      name: 'POINTERLOOKUP', arity: -3, flags: ['readonly', 'blocking'], group: 'cluster', since: '0.3.0',
      summary: 'Finds the newest signed value of a pointer name on the cluster\'s DHT, if its generation is at least the one given (default 0).',
      arguments: [CLUSTER, { name: 'name', type: 'string' }, { name: 'generation', type: 'integer', optional: true }],
      reply: 'Array [value (bulk string), generation (integer)], or nil when the cluster holds no valid record of that name at that generation or later.',
      handler: async (ctx) => {
        if (ctx.args.length > 3) throw new CrissError('ERR', 'POINTERLOOKUP takes a cluster, a name and an optional generation');
        const cluster = clusterArg(deps, ctx.args[0]);
        const name = nameArg(ctx.args[1]);
        const min = ctx.args.length === 3 ? intArg(ctx.args[2], 'generation', 0, Number.MAX_SAFE_INTEGER) : 0;
        const net = networkOf(deps);
        const r = await net.pointers.lookup(net.node(cluster), name, min);
        if (r === undefined) {
          ctx.reply.nil();
          return;
        }
        ctx.reply.array(2);
        ctx.reply.bulk(r.value);
        ctx.reply.integer(r.generation);
      },
    },
  ];
}
