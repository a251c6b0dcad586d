import { randomBytes } from 'node:crypto';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { CALL_ID_BYTES, type JobHandler, type JobRequest, MAX_JOB_BYTES, type RemoteAnswer, RemoteJobError } from '../net/job-service.ts';
import type { Network } from '../net/network.ts';
import type { JobAnnouncements } from './announce.ts';
import { serviceKey } from './announce.ts';
import type { JobQueues } from './queue.ts';
import { newNonce, verifyAnswer } from './signature.ts';

/** Refusals after which the call certainly did not run: it may go to another provider. */
const NOT_RUN = new Set(['NOSERVICE', 'QUEUEFULL', 'BADSERVICE']);
const FIND_MS = 5_000;
const MAX_CALL_MS = 86_400_000;
/** Providers found for a service are reused this long; fewer than asked for are looked up again after REFIND_MS, in the background. */
const FOUND_TTL_MS = 30_000;
const REFIND_MS = 2_000;
/** A call id is remembered while its call runs and this long after its answer. */
const DEDUP_SLACK_MS = 10_000;

interface Provider {
  peer: PeerId;
  outstanding: number;
  served: number;
  failed: number;
}

/**
 * Jobs across a cluster. As a provider: calls from members go to the local queues when the
 * service is announced on that cluster, and a call id seen before joins the first call instead
 * of queueing it twice. As a caller: providers found on the DHT, each call sent to the one
 * with the fewest calls outstanding, a provider that fails replaced within the caller's timeout,
 * every answer checked against the nonce this node chose before it is believed.
 */
export class RemoteJobs implements JobHandler {
  private readonly queues: JobQueues;
  private readonly logger: Logger;
  private net: Network | undefined;
  private announcements: JobAnnouncements | undefined;
  private readonly seen = new Map<string, { answer: Promise<RemoteAnswer>; until: number }>();
  private readonly providers = new Map<string, Map<string, Provider>>();
  /** Per cluster and service, the providers the last DHT search found. */
  private readonly found = new Map<string, { peers: PeerId[]; at: number; search: Promise<void> | undefined }>();
  private inFlight = 0;
  private retried = 0;
  private duplicates = 0;
  private rejected = 0;

  constructor(queues: JobQueues, logger: Logger) {
    this.queues = queues;
    this.logger = logger;
  }

  /** Wired after the network starts (the network needs this handler first). */
  attach(net: Network, announcements: JobAnnouncements): void {
    this.net = net;
    this.announcements = announcements;
    for (const a of announcements.live()) this.queues.accept(a.service, a.until);
  }

  async announce(cluster: string, service: string, until: number): Promise<void> {
    const announcements = this.need().announcements;
    this.queues.accept(service, until);
    await announcements.add(cluster, service, until);
  }

  handle(cluster: string, peer: string, req: JobRequest, signal: AbortSignal): Promise<RemoteAnswer> {
    if (this.announcements?.has(cluster, req.service) !== true) return Promise.reject(new CrissError('NOSERVICE', 'this node does not provide that service on this cluster'));
    const now = Date.now();
    const key = `${peer}/${req.callId.toString('hex')}`;
    const known = this.seen.get(key);
    if (known !== undefined && known.until > now) {
      this.duplicates++;
      this.logger.info({ cluster, service: req.service, call: key }, 'a job call arrived again; answering it once');
      return known.answer;
    }
    if (this.seen.size > 10_000) for (const [k, v] of this.seen) if (v.until <= now) this.seen.delete(k);
    const answer = this.queues.call({ service: req.service, method: req.method, arg: req.arg, nonce: req.nonce }, Math.max(1, Math.min(req.timeoutMs, MAX_CALL_MS)), signal);
    const entry = { answer, until: Infinity };
    this.seen.set(key, entry);
    answer.then(() => (entry.until = Date.now() + DEDUP_SLACK_MS), () => this.seen.delete(key));
    return answer;
  }

  /**
   * Runs the calls on up to `num` providers of `service`, all at once; one settled result per
   * call, in order. A call is sent again only when its provider refused it before running it
   * or its stream failed (then it may have run there: `jobs_retried` counts those).
   */
  async call(cluster: string, num: number, service: string, timeoutMs: number, calls: Array<{ method: Buffer; arg: Buffer }>, signal: AbortSignal): Promise<Array<PromiseSettledResult<RemoteAnswer>>> {
    const net = this.need().net;
    for (const c of calls) {
      if (c.method.length + c.arg.length > MAX_JOB_BYTES) throw new CrissError('TOOBIG', `a remote call's method and arg are limited to ${MAX_JOB_BYTES} bytes`);
    }
    const node = net.node(cluster);
    const deadline = Date.now() + timeoutMs;
    const pool = new Pool(this.providerTable(cluster), num);
    const cacheKey = `${cluster}/${service}`;
    let cached = this.found.get(cacheKey);
    if (cached === undefined || Date.now() - cached.at > FOUND_TTL_MS) {
      cached = { peers: [], at: 0, search: undefined };
      this.found.set(cacheKey, cached);
    }
    const entry = cached;
    const search = (): Promise<void> => {
      entry.search ??= net.providers(cluster, serviceKey(service), Math.max(num, entry.peers.length + 1), AbortSignal.timeout(Math.max(1, Math.min(FIND_MS, deadline - Date.now()))))
        .then((peers) => {
          const known = new Set(entry.peers.map(String));
          entry.peers.push(...peers.filter((p) => !known.has(p.toString())));
          entry.at = Date.now();
        }, () => undefined)
        .finally(() => (entry.search = undefined));
      return entry.search;
    };
    if (entry.peers.length > 0 && entry.peers.length < num && Date.now() - entry.at > REFIND_MS) void search();
    pool.add(entry.peers);
    const find = async (exclude: Set<string>): Promise<void> => {
      let stop = (): void => undefined;
      const given = new Promise<void>((resolve) => (stop = resolve));
      signal.addEventListener('abort', stop, { once: true });
      await Promise.race([search(), given]).finally(() => signal.removeEventListener('abort', stop));
      pool.add(entry.peers.filter((p) => !exclude.has(p.toString())));
    };
    const forget = (peer: PeerId): void => {
      const i = entry.peers.findIndex((p) => p.equals(peer));
      if (i >= 0) entry.peers.splice(i, 1);
    };
    const one = async (c: { method: Buffer; arg: Buffer }): Promise<RemoteAnswer> => {
      const req: JobRequest = { callId: randomBytes(CALL_ID_BYTES), service, method: c.method, arg: c.arg, nonce: newNonce(), timeoutMs: 0 };
      const bad = new Set<string>();
      let lastErr: Error = new CrissError('NOSERVICE', `no provider of ${service.slice(0, 64)} found on the cluster`);
      for (let attempt = 0; ; attempt++) {
        const left = deadline - Date.now();
        if (left <= 0) throw lastErr instanceof RemoteJobError ? lastErr : new CrissError('TIMEOUT', `no answer within ${timeoutMs} ms (${lastErr.message})`);
        let p = pool.pick(bad);
        if (p === undefined) {
          await pool.finding(() => find(bad));
          p = pool.pick(bad);
          if (p === undefined) throw lastErr;
        }
        if (attempt > 0) this.retried++;
        req.timeoutMs = left;
        p.outstanding++;
        this.inFlight++;
        try {
          const answer = await node.libp2p.services.jobs.call(p.peer, req, AbortSignal.any([signal, AbortSignal.timeout(left)]));
          if (!verifyAnswer(service, c.method, c.arg, answer.response, answer.signature, answer.publicKey, req.nonce)) {
            this.rejected++;
            this.logger.info({ cluster, service, provider: p.peer.toString() }, 'dropped a provider whose answer does not verify');
            throw new CrissError('BADANSWER', 'the provider\'s answer does not verify');
          }
          p.served++;
          return answer;
        } catch (err) {
          if (signal.aborted) throw signal.reason as Error;
          // Out of time is not the provider's failure: it stays in use for the other calls.
          if (Date.now() >= deadline) throw new CrissError('TIMEOUT', `no answer within ${timeoutMs} ms`);
          const e = err as Error;
          if (e instanceof RemoteJobError && !NOT_RUN.has(e.code)) throw e;
          lastErr = e instanceof CrissError ? e : new CrissError('CLOSED', `provider ${p.peer.toString()} failed: ${e.message}`);
          p.failed++;
          bad.add(p.peer.toString());
          pool.drop(p);
          forget(p.peer);
          this.logger.info({ cluster, service, provider: p.peer.toString(), err: e.message }, 'job provider failed; trying another');
        } finally {
          p.outstanding--;
          this.inFlight--;
        }
      }
    };
    return Promise.allSettled(calls.map(one));
  }

  info(): Array<[string, string | number]> {
    const lines: Array<[string, string]> = [];
    for (const [cluster, table] of this.providers) {
      for (const [peer, p] of table) lines.push([`provider_${cluster}_${peer}`, `outstanding=${p.outstanding},served=${p.served},failed=${p.failed}`]);
    }
    const announced = this.announcements?.live() ?? [];
    return [['jobs_announced', announced.length], ['remote_calls_in_flight', this.inFlight], ['jobs_retried', this.retried], ['jobs_duplicate_calls', this.duplicates], ['jobs_rejected_answers', this.rejected], ...announced.map((a): [string, string] => [`announced_${a.cluster}_${a.service}`, `until=${a.until}`]), ...lines];
  }

  private providerTable(cluster: string): Map<string, Provider> {
    let t = this.providers.get(cluster);
    if (t === undefined) this.providers.set(cluster, (t = new Map()));
    return t;
  }

  private need(): { net: Network; announcements: JobAnnouncements } {
    if (this.net === undefined || this.announcements === undefined) throw new CrissError('NOCLUSTER', 'this daemon runs no cluster network');
    return { net: this.net, announcements: this.announcements };
  }
}

/** The providers one JOBDO spreads over: at most `num`, the least busy picked first (ties at random). */
class Pool {
  private readonly table: Map<string, Provider>;
  private readonly num: number;
  private readonly members: Provider[] = [];
  private search: Promise<void> | undefined;

  constructor(table: Map<string, Provider>, num: number) {
    this.table = table;
    this.num = num;
  }

  add(peers: PeerId[]): void {
    for (const peer of peers) {
      if (this.members.length >= this.num) return;
      const key = peer.toString();
      if (this.members.some((m) => m.peer.toString() === key)) continue;
      let p = this.table.get(key);
      if (p === undefined) this.table.set(key, (p = { peer, outstanding: 0, served: 0, failed: 0 }));
      this.members.push(p);
    }
  }

  drop(p: Provider): void {
    const i = this.members.indexOf(p);
    if (i >= 0) this.members.splice(i, 1);
  }

  pick(exclude: Set<string>): Provider | undefined {
    let best: Provider | undefined;
    let ties = 0;
    for (const m of this.members) {
      if (exclude.has(m.peer.toString())) continue;
      if (best === undefined || m.outstanding < best.outstanding) {
        best = m;
        ties = 1;
      } else if (m.outstanding === best.outstanding && Math.random() * ++ties < 1) best = m;
    }
    return best;
  }

  /** One DHT search at a time for all the calls that need providers. */
  finding(run: () => Promise<void>): Promise<void> {
    this.search ??= run().finally(() => (this.search = undefined));
    return this.search;
  }
}
