import { randomBytes } from 'node:crypto';
import { CrissError } from '../errors.ts';

/** What a worker sends back: the response and its signature (docs/format.md §16), with the key that made it. */
export interface JobAnswer {
  response: Buffer;
  signature: Buffer;
  publicKey: Buffer;
}

export interface JobCall {
  service: string;
  method: Buffer;
  arg: Buffer;
  /** Chosen by the caller for this call; the signature binds it. */
  nonce: Buffer;
}

export interface QueueLimits {
  /** Jobs waiting for a worker, per service, past which a call is refused (QUEUEFULL). */
  maxQueued: number;
}

const DEFAULT_LIMITS: QueueLimits = { maxQueued: 10_000 };
/** Refs are unique for the process's life; the random prefix keeps a ref from a past run from matching. */
const REF_PREFIX = randomBytes(8).toString('hex');
let nextRef = 0;

/**
 * One call waiting for (or in the hands of) a worker. It settles once: answered, failed, timed
 * out or given up by its caller; after that a worker's answer finds it gone.
 */
export class Job implements JobCall {
  readonly ref: string;
  readonly service: string;
  readonly method: Buffer;
  readonly arg: Buffer;
  readonly nonce: Buffer;
  readonly deadline: number;
  readonly answered: Promise<JobAnswer>;
  taken = false;
  settled = false;
  /** Called once when the job settles: its holder lets go of it. */
  release: (() => void) | undefined;
  private resolveAnswer!: (a: JobAnswer) => void;
  private rejectAnswer!: (e: Error) => void;
  private readonly onSettle: (job: Job) => void;

  constructor(call: JobCall, deadline: number, onSettle: (job: Job) => void) {
    this.ref = `${REF_PREFIX}${(nextRef++).toString(36)}`;
    this.service = call.service;
    this.method = call.method;
    this.arg = call.arg;
    this.nonce = call.nonce;
    this.deadline = deadline;
    this.onSettle = onSettle;
    this.answered = new Promise((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
  }

  answer(a: JobAnswer): void {
    if (this.settled) throw new CrissError('NOJOB', 'the caller of this job has gone or timed out');
    this.settled = true;
    this.onSettle(this);
    this.release?.();
    this.resolveAnswer(a);
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettle(this);
    this.release?.();
    this.rejectAnswer(err);
  }
}

interface Waiter {
  deliver(job: Job): void;
}

/** A push-style worker's handle: `stop` ends its turns; jobs already handed over stay its to answer. */
export interface PushWorker {
  stop(): void;
}

class Service {
  readonly jobs: Job[] = [];
  /** Index of the first job of `jobs` not yet taken (a ring would do; shifting is O(n)). */
  head = 0;
  readonly waiters: Waiter[] = [];
  acceptUntil = 0;
  served = 0;
  queuedLive = 0;

  next(): Job | undefined {
    while (this.head < this.jobs.length) {
      const job = this.jobs[this.head++];
      if (this.head > 1024 && this.head * 2 > this.jobs.length) {
        this.jobs.splice(0, this.head);
        this.head = 0;
      }
      if (!job.settled) return job;
    }
    return undefined;
  }
}

/**
 * The local job queues, one per service: callers put calls in (`call`), workers take them out
 * (`take` and `wait`, what JOBGET blocks on, or `serve` for a push-style worker), each job going to
 * exactly one worker in arrival order. A job whose caller timed out or went away is dropped
 * before any worker sees it.
 */
export class JobQueues {
  private readonly services = new Map<string, Service>();
  private readonly inHand = new Map<string, Job>();
  private readonly limits: QueueLimits;
  private calls = 0;
  private pushWorkers = 0;

  constructor(limits: Partial<QueueLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Calls for `service` are taken here until `until` (epoch ms; Infinity for ever); a later time extends, never shortens. */
  accept(service: string, until: number): void {
    const s = this.service(service);
    s.acceptUntil = Math.max(s.acceptUntil, until);
  }

  accepts(service: string, now = Date.now()): boolean {
    return (this.services.get(service)?.acceptUntil ?? 0) > now;
  }

  /**
   * Queues one call and resolves to its answer. Rejects with NOSERVICE when the service is not
   * accepted here, QUEUEFULL when its queue is full, TIMEOUT past `timeoutMs`, and with the
   * signal's reason when the caller gives up.
   */
  call(call: JobCall, timeoutMs: number, signal?: AbortSignal): Promise<JobAnswer> {
    const s = this.services.get(call.service);
    if (s === undefined || s.acceptUntil <= Date.now()) return Promise.reject(new CrissError('NOSERVICE', `no service ${call.service.slice(0, 64)} is accepted here: JOBLOCAL or JOBANNOUNCE it`));
    if (s.queuedLive >= this.limits.maxQueued) return Promise.reject(new CrissError('QUEUEFULL', `the queue of ${call.service.slice(0, 64)} holds ${this.limits.maxQueued} jobs already`));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => job.fail(new CrissError('CANCELLED', 'the caller went away'));
    const job = new Job(call, Date.now() + timeoutMs, (j) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (j.taken) this.inHand.delete(j.ref);
      else s.queuedLive--;
    });
    this.calls++;
    s.queuedLive++;
    timer = setTimeout(() => job.fail(new CrissError('TIMEOUT', `no answer within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    const waiter = s.waiters.shift();
    if (waiter !== undefined) this.hand(s, job, waiter);
    else s.jobs.push(job);
    return job.answered;
  }

  /**
   * The next job of `service` if one is queued. A job returned is in the taker's hands until
   * answered, failed (`job.fail`, e.g. when the worker's connection closes) or its caller gives up.
   */
  take(service: string): Job | undefined {
    const s = this.services.get(service);
    const ready = s?.next();
    if (s !== undefined && ready !== undefined) this.markTaken(s, ready);
    return ready;
  }

  /** The next job of `service` (see `take`), waiting up to `timeoutMs` (0: no limit); undefined on timeout or when `signal` aborts. */
  wait(service: string, timeoutMs: number, signal?: AbortSignal): Promise<Job | undefined> {
    const ready = this.take(service);
    if (ready !== undefined) return Promise.resolve(ready);
    const s = this.service(service);
    if (signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (job: Job | undefined): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', cancel);
        resolve(job);
      };
      const waiter: Waiter = { deliver: done };
      const cancel = (): void => {
        const i = s.waiters.indexOf(waiter);
        if (i >= 0) s.waiters.splice(i, 1);
        this.forgetIdle(service, s);
        done(undefined);
      };
      if (timeoutMs > 0) timer = setTimeout(cancel, timeoutMs);
      signal?.addEventListener('abort', cancel, { once: true });
      s.waiters.push(waiter);
    });
  }

  /**
   * A worker that is handed jobs instead of asking for each one (SUBSCRIBE on the service's
   * channel): `deliver` gets up to `window` jobs at a time, the next as soon as one it holds
   * settles. It queues for jobs like a JOBGET waiter, going to the back after each job, so jobs
   * spread over all the service's workers and each goes to one of them only.
   */
  serve(service: string, deliver: (job: Job) => void, window: number): PushWorker {
    const s = this.service(service);
    let held = 0;
    let waiting = false;
    let stopped = false;
    const settled = (): void => {
      held--;
      refill();
    };
    const handed = (job: Job): void => {
      held++;
      deliver(job);
      const release = job.release;
      job.release = () => {
        release?.();
        settled();
      };
    };
    const waiter: Waiter = {
      deliver: (job) => {
        waiting = false;
        handed(job);
        refill();
      },
    };
    const refill = (): void => {
      while (!stopped && !waiting && held < window) {
        const job = s.next();
        if (job === undefined) {
          waiting = true;
          s.waiters.push(waiter);
          return;
        }
        this.markTaken(s, job);
        handed(job);
      }
    };
    this.pushWorkers++;
    refill();
    return {
      stop: () => {
        if (stopped) return;
        stopped = true;
        this.pushWorkers--;
        if (waiting) s.waiters.splice(s.waiters.indexOf(waiter), 1);
        this.forgetIdle(service, s);
      },
    };
  }

  /** A job in some worker's hands, by the ref JOBGET gave out. */
  taken(ref: string): Job | undefined {
    return this.inHand.get(ref);
  }

  info(): Array<[string, string | number]> {
    let queued = 0;
    let waiting = 0;
    const lines: Array<[string, string]> = [];
    const now = Date.now();
    for (const [name, s] of this.services) {
      queued += s.queuedLive;
      waiting += s.waiters.length;
      lines.push([`service_${name}`, `accepted=${s.acceptUntil > now ? 1 : 0},queued=${s.queuedLive},workers_waiting=${s.waiters.length},served=${s.served}`]);
    }
    return [['job_services', this.services.size], ['jobs_queued', queued], ['jobs_in_hand', this.inHand.size], ['workers_waiting', waiting], ['push_workers', this.pushWorkers], ['job_calls', this.calls], ...lines];
  }

  /** A name no one accepts, waits on or has calls queued for takes no memory (JOBGET on made-up names). */
  private forgetIdle(name: string, s: Service): void {
    if (s.waiters.length === 0 && s.queuedLive === 0 && s.acceptUntil <= Date.now()) this.services.delete(name);
  }

  private hand(s: Service, job: Job, waiter: Waiter): void {
    this.markTaken(s, job);
    waiter.deliver(job);
  }

  private markTaken(s: Service, job: Job): void {
    job.taken = true;
    s.queuedLive--;
    s.served++;
    this.inHand.set(job.ref, job);
  }

  private service(name: string): Service {
    let s = this.services.get(name);
    if (s === undefined) this.services.set(name, (s = new Service()));
    return s;
  }
}
