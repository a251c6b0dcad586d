import { encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import type { Job, JobAnswer, JobQueues, PushWorker } from '../jobs/queue.ts';
import { SIGNATURE_BYTES, newNonce, signAnswer, signerOf, verifyAnswer } from '../jobs/signature.ts';
import { KEY_BYTES, parseKey } from '../net/identity.ts';
import type { KeyEntry } from '../net/key-file.ts';
import type { RemoteJobs } from '../jobs/remote.ts';
import type { Network } from '../net/network.ts';
import { type PushSink, writeMessage } from '../pubsub/broker.ts';
import { intArg, ttlArg } from './args.ts';
import type { ChannelHooks } from './pubsub.ts';
import type { ArgumentDoc, ClientSession, CommandContext, CommandSpec } from './spec.ts';
import { latin1 } from './text.ts';

export interface JobCommandDeps {
  queues: JobQueues;
  /** Present when the daemon runs a cluster network. */
  net?: Network;
  remote?: RemoteJobs;
  /** The keys dir, when the daemon runs a network (key Names in JOBRESPOND). */
  key?: (name: string) => KeyEntry | undefined;
}

const NAME: ArgumentDoc = { name: 'name', type: 'string', display_text: 'service' };
const TIMEOUT: ArgumentDoc = { name: 'timeout', type: 'integer', display_text: 'timeout' };
const CALLS: ArgumentDoc = { name: 'call', type: 'block', multiple: true, arguments: [{ name: 'method', type: 'string' }, { name: 'arg', type: 'string' }] };
const JOBDO_ARGS: ArgumentDoc[] = [NAME, TIMEOUT, CALLS];
const MAX_JOB_TIMEOUT_MS = 86_400_000;

const CONNECTION = 'jobs.connection';
const IN_HAND = 'jobs.in-hand';
const PUSHED = 'jobs.pushed';
/**
 * Jobs a push-style worker holds at once: one, as a JOBGET worker does, so a slow worker never
 * sits on calls an idle one could be running.
 */
const PUSH_WINDOW = 1;

/** A TTL (ms, -1 for ever) as an expiry that survives JSON. */
function untilOf(ttl: number): number {
  return ttl === -1 ? Number.MAX_SAFE_INTEGER : Date.now() + ttl;
}

/**
 * `REMOTE cluster num JOBDO name timeout method arg …`: the calls spread over up to num
 * providers of the service, each answer checked against the nonce chosen here.
 */
export async function remoteJobDo(deps: JobCommandDeps, ctx: CommandContext, cluster: string, num: number, args: Uint8Array[]): Promise<void> {
  if (deps.remote === undefined) throw new CrissError('NOCLUSTER', 'this daemon runs no cluster network');
  if (args.length < 4) throw new CrissError('ERR', 'REMOTE … JOBDO takes name timeout method arg [method arg …]');
  const service = serviceArg(args[0]);
  const timeout = intArg(args[1], 'timeout', 1, MAX_JOB_TIMEOUT_MS);
  const pairs = callPairs(args.slice(2));
  replyAnswers(ctx, await deps.remote.call(cluster, num, service, timeout, pairs, connectionSignal(ctx.client)));
}

/** Names already found valid: a base58 decode on every JOBDO and JOBGET showed in profiles. */
const validServices = new Set<string>();
const MAX_VALID_SERVICES = 1024;

function isServiceName(text: string): boolean {
  if (validServices.has(text)) return true;
  try {
    parseKey(text, 'service');
  } catch {
    return false;
  }
  if (validServices.size >= MAX_VALID_SERVICES) validServices.clear();
  validServices.add(text);
  return true;
}

/** A service argument: the Name of the key pair that signs its answers (base58 of 32 bytes). */
function serviceArg(arg: Uint8Array): string {
  const text = latin1(arg);
  if (!isServiceName(text)) throw new CrissError('BADSERVICE', `a service is named by its key pair's Name (base58 of 32 bytes), not '${text.slice(0, 64)}'`);
  return text;
}

/**
 * Aborts when the connection closes or is RESET: what frees a blocked JOBGET and drops the
 * connection's calls that no worker answered yet.
 */
function connectionSignal(client: ClientSession): AbortSignal {
  let c = client.state.get(CONNECTION) as { signal: AbortSignal } | undefined;
  if (c === undefined) {
    const ac = new AbortController();
    const close = (): void => {
      client.gone?.removeEventListener('abort', close);
      ac.abort(new CrissError('CANCELLED', 'the caller went away'));
    };
    c = { signal: ac.signal };
    client.state.set(CONNECTION, { signal: ac.signal, close });
    if (client.gone?.aborted) close();
    else client.gone?.addEventListener('abort', close, { once: true });
  }
  return c.signal;
}

/** Jobs a connection took and has not answered: they fail (JOBLOST) when it closes, never go to a second worker. */
function holdJob(client: ClientSession, job: Job): void {
  let held = client.state.get(IN_HAND) as { jobs: Set<Job> } | undefined;
  if (held === undefined) {
    const jobs = new Set<Job>();
    held = { jobs };
    client.state.set(IN_HAND, {
      jobs,
      close: () => {
        for (const j of jobs) j.fail(new CrissError('JOBLOST', 'the worker went away with the job; it may or may not have run'));
        jobs.clear();
      },
    });
  }
  const jobs = held.jobs;
  jobs.add(job);
  job.release = () => void jobs.delete(job);
}

interface PushState {
  workers: Map<string, PushWorker>;
  /** Jobs pushed to this connection and not answered yet, whichever worker they came from. */
  jobs: Set<Job>;
  close(): void;
}

/**
 * SUBSCRIBE on a service's Name: the connection becomes a push-style worker, each call arriving
 * as a message whose payload is msgpack [method, arg, ref]. UNSUBSCRIBE stops new calls (those
 * already pushed stay answerable); when the connection closes or RESETs, the calls it holds
 * fail with JOBLOST, as a JOBGET worker's do. The workers stop first, so a failing call cannot
 * make room for one more to be pushed to a connection that is going.
 */
export function jobChannels(deps: JobCommandDeps): ChannelHooks {
  const stateOf = (client: ClientSession): PushState => {
    let st = client.state.get(PUSHED) as PushState | undefined;
    if (st === undefined) {
      const workers = new Map<string, PushWorker>();
      const jobs = new Set<Job>();
      st = {
        workers,
        jobs,
        close: () => {
          for (const w of workers.values()) w.stop();
          workers.clear();
          for (const j of [...jobs]) j.fail(new CrissError('JOBLOST', 'the worker went away with the job; it may or may not have run'));
          jobs.clear();
        },
      };
      client.state.set(PUSHED, st);
    }
    return st;
  };
  return {
    subscribed: (client, channel, sink: PushSink) => {
      const service = latin1(channel);
      if (!isServiceName(service)) return;
      const st = stateOf(client);
      const name = Buffer.from(channel);
      const deliver = (job: Job): void => {
        st.jobs.add(job);
        job.release = () => void st.jobs.delete(job);
        const payload = encodeValue([job.method, job.arg, job.ref]);
        sink.push((w) => writeMessage(w, name, payload));
      };
      st.workers.set(service, deps.queues.serve(service, deliver, PUSH_WINDOW));
    },
    unsubscribed: (client, channel) => {
      const st = client.state.get(PUSHED) as PushState | undefined;
      const service = latin1(channel);
      st?.workers.get(service)?.stop();
      st?.workers.delete(service);
    },
  };
}

/** The seed JOBRESPOND signs with: 32 raw bytes, or the Name of a key pair in the keys dir. */
function signingSeed(deps: JobCommandDeps, arg: Uint8Array): Uint8Array {
  if (arg.length === KEY_BYTES) return arg;
  const name = latin1(arg);
  const entry = deps.key?.(name);
  if (entry === undefined) throw new CrissError('NOKEY', `no key pair named ${name.slice(0, 64)} in the keys dir (or give the raw 32-byte seed)`);
  if (entry.privateKey === undefined) throw new CrissError('NOKEY', `the keys dir holds only the public key of ${name.slice(0, 64)}`);
  return entry.privateKey;
}

/** A public key argument: 32 raw bytes or base58 text. */
function publicKeyArg(arg: Uint8Array): Buffer {
  if (arg.length === KEY_BYTES) return Buffer.from(arg);
  return parseKey(latin1(arg), 'public_key');
}

/** JOBDO's `method arg …` pairs. */
function callPairs(args: Uint8Array[]): Array<{ method: Buffer; arg: Buffer }> {
  if (args.length === 0 || args.length % 2 !== 0) throw new CrissError('ERR', 'JOBDO takes method arg pairs');
  const out: Array<{ method: Buffer; arg: Buffer }> = [];
  for (let i = 0; i < args.length; i += 2) out.push({ method: Buffer.from(args[i]), arg: Buffer.from(args[i + 1]) });
  return out;
}

/** JOBGET's reply: `[method, arg, ref]`, the job then held by this connection; nil on timeout. */
function replyJob(ctx: CommandContext, job: Job | undefined): void {
  if (job === undefined) {
    ctx.reply.nil();
    return;
  }
  holdJob(ctx.client, job);
  ctx.reply.array(3);
  ctx.reply.bulk(job.method);
  ctx.reply.bulk(job.arg);
  ctx.reply.bulk(job.ref);
}

/** One `[response, signature]` per call, or that call's error, in the order asked. */
function replyAnswers(ctx: CommandContext, results: Array<PromiseSettledResult<JobAnswer>>): void {
  ctx.reply.array(results.length);
  for (const r of results) {
    if (r.status === 'fulfilled') {
      ctx.reply.array(2);
      ctx.reply.bulk(r.value.response);
      ctx.reply.bulk(r.value.signature);
    } else {
      const e = r.reason as Error;
      ctx.reply.error(e instanceof CrissError ? e.code : 'ERR', e.message);
    }
  }
}

export function jobCommands(deps: JobCommandDeps): CommandSpec[] {
  const { queues } = deps;
  return [
    {
      name: 'JOBANNOUNCE', arity: 4, flags: ['write', 'blocking'], group: 'jobs', since: '0.4.0',
      summary: 'Provides a service on the cluster\'s DHT for ttl ms (re-provided while it lasts, after a restart too) and accepts its calls, from members and locally.',
      arguments: [{ name: 'cluster', type: 'string' }, NAME, { name: 'ttl', type: 'integer' }],
      reply: 'Simple string OK. NOCLUSTER when no cluster has that Name; BADSERVICE when the name is not a key pair Name. Workers take the calls with JOBGET.',
      handler: async (ctx) => {
        const { net, remote } = deps;
        if (net === undefined || remote === undefined) throw new CrissError('NOCLUSTER', 'this daemon runs no cluster network');
        const cluster = net.resolve(latin1(ctx.args[0]));
        const service = serviceArg(ctx.args[1]);
        const ttl = ttlArg(ctx.args[2]);
        if (ttl === 0) throw new CrissError('ERR', 'JOBANNOUNCE needs a TTL: milliseconds, or -1 for forever');
        await remote.announce(cluster, service, untilOf(ttl));
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'JOBLOCAL', arity: 3, flags: ['fast'], group: 'jobs', since: '0.4.0',
      summary: 'Accepts calls for a service on this daemon for ttl ms, without announcing it to any cluster.',
      arguments: [NAME, { name: 'ttl', type: 'integer' }],
      reply: 'Simple string OK. BADSERVICE when the name is not a key pair Name.',
      handler: (ctx) => {
        const service = serviceArg(ctx.args[0]);
        const ttl = ttlArg(ctx.args[1]);
        if (ttl === 0) throw new CrissError('ERR', 'JOBLOCAL needs a TTL: milliseconds, or -1 for forever');
        queues.accept(service, untilOf(ttl));
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'JOBGET', arity: 3, flags: ['blocking'], group: 'jobs', since: '0.4.0',
      summary: 'Takes the next call of a service, waiting up to timeout ms (0: no limit) like BLPOP; other connections keep being served. Each call goes to one worker only.',
      arguments: [NAME, TIMEOUT],
      reply: 'Array [method, arg, ref], or nil on timeout (and on CLIENT UNBLOCK, or an UNBLOCKED error with its ERROR). Answer with JOBRESPOND ref …; a call this connection holds fails with JOBLOST if it closes (or RESETs) first.',
      handler: (ctx) => {
        const service = serviceArg(ctx.args[0]);
        const timeout = intArg(ctx.args[1], 'timeout', 0, MAX_JOB_TIMEOUT_MS);
        // A job already queued is handed over in this tick: a busy worker never waits a turn.
        const ready = queues.take(service);
        if (ready !== undefined) return replyJob(ctx, ready);
        const unblock = new AbortController();
        const got = queues.wait(service, timeout, AbortSignal.any([connectionSignal(ctx.client), unblock.signal]));
        let unblockedWithError = false;
        ctx.client.unblocker = (error) => {
          unblockedWithError = error;
          unblock.abort();
        };
        return got.then((job) => {
          ctx.client.unblocker = undefined;
          if (job === undefined && unblockedWithError) throw new CrissError('UNBLOCKED', 'client unblocked via CLIENT UNBLOCK');
          replyJob(ctx, job);
        });
      },
    },
    {
      name: 'JOBRESPOND', arity: 4, flags: ['fast'], group: 'jobs', since: '0.4.0',
      summary: 'Answers a call taken with JOBGET, from any connection, signing the response with the service\'s key (a raw 32-byte seed, or a key pair Name from the keys dir).',
      arguments: [{ name: 'ref', type: 'string' }, { name: 'response', type: 'string' }, { name: 'key', type: 'string' }],
      reply: 'Simple string OK. NOJOB when the call is not awaited any more (answered, timed out, its caller gone); BADKEY when the key is not the service\'s.',
      handler: (ctx) => {
        const job = queues.taken(latin1(ctx.args[0]));
        if (job === undefined) throw new CrissError('NOJOB', 'no such job awaits an answer: answered already, timed out, or its caller has gone');
        const signer = signerOf(signingSeed(deps, ctx.args[2]));
        if (signer.name !== job.service) throw new CrissError('BADKEY', `that key's Name is ${signer.name}, not the service's`);
        const response = Buffer.from(ctx.args[1]);
        return signAnswer(signer, job.service, job.method, job.arg, response, job.nonce).then((signature) => {
          // The call may have ended while the signature was made: answer() then says NOJOB.
          job.answer({ response, signature, publicKey: signer.publicKey });
          ctx.reply.simple('OK');
        });
      },
    },
    {
      name: 'JOBDO', arity: -5, flags: ['blocking'], group: 'jobs', since: '0.4.0',
      summary: 'Calls a service accepted on this daemon (JOBLOCAL, JOBANNOUNCE) once per method/arg pair, all at once, each within timeout ms; each call gets a fresh nonce its signature binds.',
      arguments: JOBDO_ARGS,
      reply: 'Array, one entry per call in the order asked: [response, signature] or that call\'s error (TIMEOUT, QUEUEFULL, NOSERVICE, JOBLOST).',
      handler: async (ctx) => {
        const service = serviceArg(ctx.args[0]);
        const timeout = intArg(ctx.args[1], 'timeout', 1, MAX_JOB_TIMEOUT_MS);
        const pairs = callPairs(ctx.args.slice(2));
        const signal = connectionSignal(ctx.client);
        const results = await Promise.allSettled(pairs.map((p) => queues.call({ service, method: p.method, arg: p.arg, nonce: newNonce() }, timeout, signal)));
        replyAnswers(ctx, results);
      },
    },
    {
      name: 'JOBVERIFY', arity: -7, flags: ['fast'], group: 'jobs', since: '0.4.0',
      summary: 'Checks an answer\'s signature: made by public_key, whose Name is the service, over this method, arg and response and the nonce the signature carries (docs/format.md §16). NONCE also checks it answers the call that chose that nonce.',
      arguments: [NAME, { name: 'method', type: 'string' }, { name: 'arg', type: 'string' }, { name: 'response', type: 'string' }, { name: 'signature', type: 'string' }, { name: 'public_key', type: 'string' }, { name: 'nonce', type: 'string', token: 'NONCE', optional: true }],
      reply: `Integer 1 when it holds, 0 otherwise. A signature is ${SIGNATURE_BYTES} bytes: the 16-byte nonce, then the Ed25519 signature.`,
      handler: (ctx) => {
        const [name, method, arg, response, signature, publicKey, ...rest] = ctx.args;
        let nonce: Uint8Array | undefined;
        if (rest.length > 0) {
          if (rest.length !== 2 || latin1(rest[0]).toUpperCase() !== 'NONCE') throw new CrissError('ERR', 'syntax error: JOBVERIFY … public_key [NONCE nonce]');
          nonce = rest[1];
        }
        const service = latin1(name);
        ctx.reply.integer(verifyAnswer(service, method, arg, response, signature, publicKeyArg(publicKey), nonce) ? 1 : 0);
      },
    },
  ];
}
