import { CrissError } from '../errors.ts';
import { type Broker, type PushSink, SUBSCRIPTIONS, type Subscriptions, subscriptionsOf } from '../pubsub/broker.ts';
import type { ReplyWriter } from '../resp/reply.ts';
import type { ClientSession, CommandContext, CommandSpec } from './spec.ts';

/** Channels that mean more than pub/sub to another command family (a service's channel makes its subscriber a job worker). */
export interface ChannelHooks {
  subscribed(client: ClientSession, channel: Uint8Array, sink: PushSink): void;
  unsubscribed(client: ClientSession, channel: Uint8Array): void;
}

export interface PubsubDeps {
  broker: Broker;
  channels?: ChannelHooks;
}

const SINCE = '0.4.0';
const FLAGS = ['pubsub', 'noscript', 'loading', 'stale'];

/** The client's subscriptions, opened on its first SUBSCRIBE. */
function subscriptions(broker: Broker, c: ClientSession): Subscriptions {
  const existing = subscriptionsOf(c.state);
  if (existing !== undefined) return existing;
  if (c.push === undefined) throw new CrissError('ERR', 'this connection cannot receive messages');
  const s = broker.open({ push: c.push.bind(c), ...(c.writable !== undefined ? { writable: c.writable.bind(c) } : {}) });
  c.state.set(SUBSCRIPTIONS, s);
  return s;
}

/** `[kind, name, count]`: a push in RESP3, an array in RESP2; a nil name when there was nothing to leave. */
function confirm(w: ReplyWriter, kind: string, name: Uint8Array | undefined, count: number): void {
  w.push(3);
  w.bulk(kind);
  if (name === undefined) w.nil();
  else w.bulk(name);
  w.integer(count);
}

/** SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB …: Redis's pub/sub, frame for frame. */
export function pubsubCommands(deps: PubsubDeps): CommandSpec[] {
  const { broker, channels } = deps;
  const spec = (s: Omit<CommandSpec, 'flags' | 'group' | 'since'> & { flags?: string[] }): CommandSpec => ({ flags: FLAGS, group: 'pubsub', since: SINCE, ...s });

  const leave = (ctx: CommandContext, kind: 'unsubscribe' | 'punsubscribe'): void => {
    const s = subscriptionsOf(ctx.client.state);
    const patterns = kind === 'punsubscribe';
    const names = ctx.args.length > 0 ? ctx.args : patterns ? (s?.patterns() ?? []) : (s?.channels() ?? []);
    if (names.length === 0) {
      confirm(ctx.reply, kind, undefined, s?.count ?? 0);
      return;
    }
    for (const name of names) {
      if (s !== undefined) {
        if (patterns) s.punsubscribe(name);
        else if (s.unsubscribe(name)) channels?.unsubscribed(ctx.client, name);
      }
      confirm(ctx.reply, kind, name, s?.count ?? 0);
    }
  };

  const pubsubHelp = (ctx: CommandContext): void => {
    const lines = [
      'PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'CHANNELS [<pattern>]',
      "    Return the currently active channels matching a <pattern> (default: '*').",
      'NUMPAT',
      '    Return number of subscriptions to patterns.',
      'NUMSUB [<channel> ...]',
      '    Return the number of subscribers for the specified channels, excluding',
      '    pattern subscriptions(default: no channels).',
      'HELP',
      '    Prints this help.',
    ];
    ctx.reply.array(lines.length);
    for (const l of lines) ctx.reply.simple(l);
  };

  return [
    spec({
      name: 'SUBSCRIBE',
      arity: -2,
      summary: 'Listens for messages published to the given channels. On a service\'s Name it also makes the connection a push-style worker: the service\'s calls arrive one at a time, each to one worker only.',
      arguments: [{ name: 'channel', type: 'string', multiple: true }],
      reply: 'For each channel, `["subscribe", channel, count]` (a push in RESP3), count being the client\'s channels and patterns; then `["message", channel, payload]` per message. A call of a service arrives as a message on its channel whose payload is the msgpack array [method, arg, ref] (docs/format.md §16); the next comes once it is answered (JOBRESPOND ref …, from any connection). In RESP2 the client may then only run (P)(UN)SUBSCRIBE, PING, QUIT and RESET.',
      handler: (ctx) => {
        const s = subscriptions(broker, ctx.client);
        for (const ch of ctx.args) {
          const joined = s.subscribe(ch);
          confirm(ctx.reply, 'subscribe', ch, s.count);
          if (joined) channels?.subscribed(ctx.client, ch, s.sink);
        }
      },
    }),
    spec({
      name: 'PSUBSCRIBE',
      arity: -2,
      summary: 'Listens for messages published to channels matching the given glob patterns (`*`, `?`, `[a-z]`, `[^…]`, `\\` escapes, as Redis matches them).',
      arguments: [{ name: 'pattern', type: 'pattern', multiple: true }],
      reply: 'For each pattern, `["psubscribe", pattern, count]` (a push in RESP3); then `["pmessage", pattern, channel, payload]` per message.',
      handler: (ctx) => {
        const s = subscriptions(broker, ctx.client);
        for (const p of ctx.args) {
          s.psubscribe(p);
          confirm(ctx.reply, 'psubscribe', p, s.count);
        }
      },
    }),
    spec({
      name: 'UNSUBSCRIBE',
      arity: -1,
      summary: 'Stops listening on the given channels, or on all of them.',
      arguments: [{ name: 'channel', type: 'string', optional: true, multiple: true }],
      reply: 'For each channel left, `["unsubscribe", channel, count]`; with no channel to leave, one with a nil channel.',
      handler: (ctx) => leave(ctx, 'unsubscribe'),
    }),
    spec({
      name: 'PUNSUBSCRIBE',
      arity: -1,
      summary: 'Stops listening on the given patterns, or on all of them.',
      arguments: [{ name: 'pattern', type: 'pattern', optional: true, multiple: true }],
      reply: 'For each pattern left, `["punsubscribe", pattern, count]`; with no pattern to leave, one with a nil pattern.',
      handler: (ctx) => leave(ctx, 'punsubscribe'),
    }),
    spec({
      name: 'PUBLISH',
      arity: 3,
      flags: ['pubsub', 'loading', 'stale', 'fast'],
      summary: 'Posts a message to a channel, for the clients of this daemon. `REMOTE cluster num PUBLISH channel message` posts it to every member of a cluster as well.',
      arguments: [
        { name: 'channel', type: 'string' },
        { name: 'message', type: 'string' },
      ],
      reply: 'Integer: how many subscriptions (channel and pattern) on this daemon received it.',
      handler: ({ args, reply }) => reply.integer(broker.publish(args[0], args[1])),
    }),
    spec({
      name: 'PUBSUB',
      arity: -2,
      flags: ['pubsub'],
      summary: 'A container for pub/sub introspection commands.',
      arguments: [],
      reply: 'Depends on the subcommand.',
      handler: pubsubHelp,
      subcommands: [
        spec({
          name: 'PUBSUB|CHANNELS',
          arity: -2,
          summary: 'Returns the channels with at least one subscriber, those matching the pattern if one is given.',
          arguments: [{ name: 'pattern', type: 'pattern', optional: true }],
          reply: 'Array of bulk strings.',
          handler: ({ args, reply }) => {
            if (args.length > 1) throw new CrissError('ERR', `unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.`);
            const names = broker.activeChannels(args[0]);
            reply.array(names.length);
            for (const n of names) reply.bulk(n);
          },
        }),
        spec({
          name: 'PUBSUB|NUMSUB',
          arity: -2,
          summary: 'Returns the number of subscribers of each channel, pattern subscriptions not counted.',
          arguments: [{ name: 'channel', type: 'string', optional: true, multiple: true }],
          reply: 'Flat array of channel, count pairs.',
          handler: ({ args, reply }) => {
            reply.array(args.length * 2);
            for (const ch of args) {
              reply.bulk(ch);
              reply.integer(broker.subscribers(ch));
            }
          },
        }),
        spec({
          name: 'PUBSUB|NUMPAT',
          arity: 2,
          summary: 'Returns the number of distinct patterns subscribed to.',
          arguments: [],
          reply: 'Integer.',
          handler: ({ reply }) => reply.integer(broker.patternCount),
        }),
        spec({ name: 'PUBSUB|HELP', arity: 2, summary: 'Shows helpful text about the different subcommands.', arguments: [], reply: 'Array of simple strings.', handler: pubsubHelp }),
      ],
    }),
  ];
}
