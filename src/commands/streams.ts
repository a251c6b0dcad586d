import { CrissError } from '../errors.ts';
import type { Network } from '../net/network.ts';
import type { StreamService } from '../net/streams.ts';
import { MAX_CLUSTER_MESSAGE } from '../net/pubsub.ts';
import type { Broker } from '../pubsub/broker.ts';
import { type StreamHub, type StreamMessage, newStreamRef, pubsubConsumer } from '../pubsub/stream.ts';
import type { ReplyWriter } from '../resp/reply.ts';
import { intArg } from './args.ts';
import type { ClientSession, CommandContext, CommandSpec } from './spec.ts';
import { latin1 } from './text.ts';

export interface StreamDeps {
  broker: Broker;
  hub: StreamHub;
  net: Network | undefined;
}

/** A REMOTE subcommand that is not a tree read: `REMOTE cluster num NAME args…`. */
export type RemoteHandler = (ctx: CommandContext, cluster: Uint8Array, num: number, args: Uint8Array[]) => Promise<void>;

const SINCE = '0.4.0';
const MAX_TIMEOUT = 2 ** 31 - 1;
const OWNED = 'streams';
const WORKER = 'stream-worker';

/** The streams a connection started: they end when it closes ("producer gone") or RESETs. */
class OwnedStreams {
  readonly refs = new Map<string, () => void>();

  close(): void {
    for (const stop of this.refs.values()) stop();
    this.refs.clear();
  }
}

/** A connection serving streams: when it closes, its streams end and its STREAMGET stops waiting. */
class WorkerState {
  readonly services = new Set<string>();
  readonly abort = new AbortController();
  private readonly hub: StreamHub;
  private readonly id: number;

  constructor(hub: StreamHub, id: number) {
    this.hub = hub;
    this.id = id;
  }

  close(): void {
    this.abort.abort();
    this.hub.workerGone(this.id);
  }
}

function writeMessage(reply: ReplyWriter, m: StreamMessage | undefined): void {
  if (m === undefined) {
    reply.nil();
    return;
  }
  reply.array(4);
  reply.bulk(m.ref);
  reply.integer(m.seq);
  reply.bulk(m.method);
  reply.bulk(m.arg);
}

function owned(c: ClientSession): OwnedStreams {
  let o = c.state.get(OWNED);
  if (!(o instanceof OwnedStreams)) c.state.set(OWNED, (o = new OwnedStreams()));
  return o as OwnedStreams;
}

/**
 * Streams (STREAMSTART, STREAMSEND, STREAMSTOP; STREAMGET and STREAMRESPOND for the worker)
 * and the REMOTE forms of STREAMSTART and PUBLISH.
 */
export function streamCommands(deps: StreamDeps): { specs: CommandSpec[]; remote: Map<string, RemoteHandler> } {
  const { hub, broker } = deps;
  const streamsOf = (cluster: Uint8Array) => {
    if (deps.net === undefined) throw new CrissError('NOCLUSTER', 'this daemon runs no cluster network');
    return deps.net.node(deps.net.resolve(latin1(cluster))).libp2p.services;
  };
  /** Streams opened with REMOTE … STREAMSTART, by ref, until they end: which cluster node carries each. */
  const remoteRefs = new Map<string, StreamService>();
  const remoteOf = (ref: string): StreamService | undefined => remoteRefs.get(ref);

  const TIMEOUT = { name: 'timeout', type: 'integer', display_text: 'timeout-ms' } as const;
  const specs: CommandSpec[] = [
    {
      name: 'STREAMSTART',
      arity: 2,
      flags: ['write'],
      group: 'streams',
      since: SINCE,
      summary: 'Opens a stream to a service that a worker on this daemon serves (STREAMGET); `REMOTE cluster 1 STREAMSTART name` opens one to a member that serves it. The stream ends when this connection closes.',
      arguments: [{ name: 'name', type: 'string' }],
      reply: 'The stream ref `stream:<hex>:*`, a pattern: PSUBSCRIBE it to get each result as a pmessage on `stream:<hex>:<seq>` and the end on `stream:<hex>:end` (its payload the reason). NOWORKER when no worker serves the name.',
      handler: ({ args, client, reply }) => {
        const ref = newStreamRef();
        hub.start(latin1(args[0]), pubsubConsumer(broker, ref), ref);
        owned(client).refs.set(ref, () => hub.stop(ref, 'producer gone'));
        reply.bulk(ref);
      },
    },
    {
      name: 'STREAMSEND',
      arity: 5,
      flags: ['write', 'blocking'],
      group: 'streams',
      since: SINCE,
      summary: 'Sends a message (method and argument) on a stream, waiting up to timeout ms (0: no limit) while the stream has 64 messages not yet answered and delivered: a slow consumer or worker slows the sender.',
      arguments: [{ name: 'ref', type: 'string' }, { name: 'method', type: 'string' }, { name: 'arg', type: 'string' }, TIMEOUT],
      reply: 'Integer: the message\'s sequence number (1, 2, …), which names the channel its result arrives on. TIMEOUT when no room came in time; CLOSED when the stream has ended.',
      handler: ({ args, reply }) => {
        const ref = latin1(args[0]);
        const timeout = intArg(args[3], 'timeout', 0, MAX_TIMEOUT);
        const remote = remoteOf(ref);
        const seq = remote !== undefined ? remote.send(ref, args[1], args[2], timeout) : hub.send(ref, args[1], args[2], timeout);
        // With room in the stream the reply is written now: a pipelined burst of sends costs no turn each.
        if (typeof seq === 'number') reply.integer(seq);
        else return seq.then((n) => reply.integer(n));
      },
    },
    {
      name: 'STREAMSTOP',
      arity: 2,
      flags: ['write'],
      group: 'streams',
      since: SINCE,
      summary: 'Ends a stream: the worker gets no more of its messages and its subscribers a last message on `…:end` saying `stopped`.',
      arguments: [{ name: 'ref', type: 'string' }],
      reply: 'Simple string OK, also for a stream that had already ended.',
      handler: ({ args, client, reply }) => {
        const ref = latin1(args[0]);
        const remote = remoteOf(ref);
        if (remote !== undefined) remote.end(ref, 'stopped');
        else hub.stop(ref, 'stopped');
        owned(client).refs.delete(ref);
        reply.simple('OK');
      },
    },
    {
      name: 'STREAMGET',
      arity: 3,
      flags: ['write', 'blocking'],
      group: 'streams',
      since: SINCE,
      summary: 'The worker\'s side: offers to serve the named service (from now until this connection closes) and waits up to timeout ms (0: no limit) for the next stream message. A stream is served by the first worker that takes one of its messages, in order, until it ends.',
      arguments: [{ name: 'name', type: 'string' }, TIMEOUT],
      reply: 'Array `[ref, seq, method, arg]`, or nil on timeout.',
      handler: ({ args, client, reply }) => {
        const service = latin1(args[0]);
        const timeout = intArg(args[1], 'timeout', 0, MAX_TIMEOUT);
        let w = client.state.get(WORKER);
        if (!(w instanceof WorkerState)) client.state.set(WORKER, (w = new WorkerState(hub, client.id)));
        const worker = w as WorkerState;
        if (!worker.services.has(service)) {
          worker.services.add(service);
          hub.addWorker(service, client.id);
        }
        const signal = client.gone === undefined ? worker.abort.signal : AbortSignal.any([worker.abort.signal, client.gone]);
        const m = hub.take(service, client.id, timeout === 0 ? -1 : timeout, signal);
        if (m instanceof Promise) return m.then((got) => writeMessage(reply, got));
        writeMessage(reply, m);
      },
    },
    {
      name: 'STREAMRESPOND',
      arity: 4,
      flags: ['write', 'blocking'],
      group: 'streams',
      since: SINCE,
      summary: 'The worker\'s answer to message seq of a stream. Results reach the stream\'s subscribers in sequence order; the reply waits until this one has been delivered, so a worker is paced by the consumer.',
      arguments: [{ name: 'ref', type: 'string' }, { name: 'seq', type: 'integer' }, { name: 'response', type: 'string' }],
      reply: 'Simple string OK. CLOSED when the stream has ended.',
      handler: ({ args, reply }) => {
        const delivered = hub.respond(latin1(args[0]), intArg(args[1], 'seq', 1, Number.MAX_SAFE_INTEGER), args[2]);
        if (delivered === undefined) reply.simple('OK');
        else return delivered.then(() => reply.simple('OK'));
      },
    },
  ];

  const remote = new Map<string, RemoteHandler>([
    ['STREAMSTART', async (ctx, cluster, num, args) => {
      if (args.length !== 1) throw new CrissError('ERR', 'REMOTE … STREAMSTART takes a service name');
      if (num !== 1) throw new CrissError('ERR', 'a stream is served by one member: REMOTE cluster 1 STREAMSTART name');
      const service = streamsOf(cluster).streams;
      const ref = await service.open(latin1(args[0]), (r) => {
        const consumer = pubsubConsumer(broker, r);
        return { deliver: consumer.deliver, end: (reason) => (remoteRefs.delete(r), consumer.end(reason)) };
      });
      remoteRefs.set(ref, service);
      owned(ctx.client).refs.set(ref, () => service.end(ref, 'producer gone'));
      ctx.reply.bulk(ref);
    }],
    ['PUBLISH', async (ctx, cluster, _num, args) => {
      if (args.length !== 2) throw new CrissError('ERR', 'REMOTE … PUBLISH takes a channel and a message');
      if (args[0].length + args[1].length > MAX_CLUSTER_MESSAGE) throw new CrissError('TOOBIG', `a cluster message holds at most ${MAX_CLUSTER_MESSAGE} bytes`);
      const { pubsub } = streamsOf(cluster);
      pubsub.publish(args[0], args[1]);
      ctx.reply.integer(broker.publish(args[0], args[1]));
    }],
  ]);
  return { specs, remote };
}
