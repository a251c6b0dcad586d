import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';

/** One message of a stream as its worker takes it (STREAMGET). */
export interface StreamMessage {
  readonly ref: string;
  readonly seq: number;
  readonly method: Uint8Array;
  readonly arg: Uint8Array;
}

/**
 * Where a stream's results go, in sequence order. `deliver` settles once the consumer can
 * take more: that wait is the stream's back-pressure. `end` is called once, with the reason.
 */
export interface StreamConsumer {
  /** Undefined when the consumer can take more at once (no await, so a busy stream costs no extra turns). */
  deliver(seq: number, payload: Uint8Array): Promise<void> | undefined;
  end(reason: string): void;
}

/** Messages sent and not yet delivered as results, per stream: beyond it STREAMSEND waits. */
export const STREAM_WINDOW = 64;

/** `stream:<hex>:*`: a pattern, so that PSUBSCRIBE ref hears `stream:<hex>:<seq>` results and `stream:<hex>:end`. */
export function newStreamRef(): string {
  return `stream:${randomBytes(12).toString('hex')}:*`;
}

/** The channel a result or the end goes out on, for a ref made by `newStreamRef`. */
export function streamChannel(ref: string, what: number | 'end'): string {
  return `${ref.slice(0, -1)}${what}`;
}

interface Waiter {
  readonly worker: number;
  resolve(m: StreamMessage | undefined): void;
}

class Stream {
  readonly ref: string;
  readonly service: string;
  readonly consumer: StreamConsumer;
  /** Sent and not yet taken by the worker. */
  readonly queue: StreamMessage[] = [];
  nextSeq = 1;
  nextDeliver = 1;
  /** Taken and not yet answered. */
  readonly taken = new Set<number>();
  /** Answered ahead of an earlier message: held until the earlier ones are delivered. */
  readonly results = new Map<number, Uint8Array>();
  /** The one worker connection that serves this stream, bound at its first STREAMGET: order needs one. */
  worker: number | undefined;
  delivering: Promise<void> | undefined;
  ended = false;
  spaceWaiters: Array<() => void> = [];

  constructor(ref: string, service: string, consumer: StreamConsumer) {
    this.ref = ref;
    this.service = service;
    this.consumer = consumer;
  }

  get inFlight(): number {
    return this.nextSeq - this.nextDeliver;
  }
}

/**
 * The streams served on this daemon: a producer sends messages to a service, one worker of
 * that service takes them in order (STREAMGET) and answers each (STREAMRESPOND); answers reach
 * the consumer in sequence order. Everything is bounded: at most STREAM_WINDOW messages per
 * stream between send and delivery, and a delivery waits for the consumer, so a slow consumer
 * holds up the worker's answer, the worker takes no more, and the producer's STREAMSEND waits.
 */
export class StreamHub {
  private readonly logger: Logger;
  private readonly streams = new Map<string, Stream>();
  /** Per service: its streams (rotated as they are served, for fairness), waiting workers, known workers. */
  private readonly services = new Map<string, { streams: Set<Stream>; waiters: Waiter[]; workers: Map<number, number> }>();
  started = 0;
  sent = 0;
  delivered = 0;
  deliveredBytes = 0;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  private service(name: string): { streams: Set<Stream>; waiters: Waiter[]; workers: Map<number, number> } {
    let s = this.services.get(name);
    if (s === undefined) this.services.set(name, (s = { streams: new Set(), waiters: [], workers: new Map() }));
    return s;
  }

  /** Whether a connection here has offered to serve `service` (called STREAMGET) and is still open. */
  hasWorkers(service: string): boolean {
    return (this.services.get(service)?.workers.size ?? 0) > 0;
  }

  /** Opens a stream to a service that has a worker here; `consumer` gets its results. */
  start(service: string, consumer: StreamConsumer, ref: string = newStreamRef()): string {
    if (!this.hasWorkers(service)) throw new CrissError('NOWORKER', `no worker serves ${service.slice(0, 64)} here: a worker offers a service with STREAMGET`);
    const s = new Stream(ref, service, consumer);
    this.streams.set(ref, s);
    this.service(service).streams.add(s);
    this.started++;
    this.logger.info({ ref, service }, 'stream started');
    return ref;
  }

  get open(): number {
    return this.streams.size;
  }

  private get(ref: string): Stream {
    const s = this.streams.get(ref);
    if (s === undefined) throw new CrissError('CLOSED', 'no such stream, or it has ended');
    return s;
  }

  /** Queues a message, at once when the stream has room, else once it has; gives its sequence number. */
  send(ref: string, method: Uint8Array, arg: Uint8Array, timeoutMs: number): number | Promise<number> {
    const s = this.get(ref);
    if (s.inFlight < STREAM_WINDOW) return this.enqueue(s, method, arg);
    return this.room(s, timeoutMs).then(() => this.enqueue(s, method, arg));
  }

  private enqueue(s: Stream, method: Uint8Array, arg: Uint8Array): number {
    if (s.ended) throw new CrissError('CLOSED', 'the stream has ended');
    const ref = s.ref;
    const m: StreamMessage = { ref, seq: s.nextSeq++, method: Buffer.from(method), arg: Buffer.from(arg) };
    s.queue.push(m);
    this.sent++;
    this.serveWaiting(s.service);
    return m.seq;
  }

  private room(s: Stream, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        s.spaceWaiters = s.spaceWaiters.filter((w) => w !== wake);
        reject(new CrissError('TIMEOUT', `the stream had no room within ${timeoutMs} ms: its consumer or worker is behind`));
      }, timeoutMs) : undefined;
      const wake = (): void => {
        clearTimeout(timer);
        if (s.inFlight < STREAM_WINDOW || s.ended) resolve();
        else s.spaceWaiters.push(wake);
      };
      s.spaceWaiters.push(wake);
    });
  }

  /**
   * STREAMGET: the next message for `worker` of `service`, waiting up to `timeoutMs` (0: no
   * wait); undefined on timeout. `signal` aborts the wait when the worker's connection closes.
   */
  take(service: string, worker: number, timeoutMs: number, signal: AbortSignal): StreamMessage | Promise<StreamMessage | undefined> | undefined {
    const now = this.takeNow(service, worker);
    if (now !== undefined || timeoutMs === 0 || signal.aborted) return now;
    const svc = this.service(service);
    return new Promise((resolve) => {
      const done = (m: StreamMessage | undefined): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        const i = svc.waiters.indexOf(waiter);
        if (i >= 0) svc.waiters.splice(i, 1);
        resolve(m);
      };
      const waiter: Waiter = { worker, resolve: done };
      const abort = (): void => done(undefined);
      const timer = timeoutMs > 0 ? setTimeout(abort, timeoutMs) : undefined;
      signal.addEventListener('abort', abort);
      svc.waiters.push(waiter);
    });
  }

  /** A connection offers to serve `service` until `workerGone`. */
  addWorker(service: string, worker: number): void {
    const w = this.service(service).workers;
    w.set(worker, (w.get(worker) ?? 0) + 1);
  }

  /** The worker's connection closed: its streams end, since their messages in its hands are lost. */
  workerGone(worker: number): void {
    for (const [name, svc] of this.services) {
      svc.workers.delete(worker);
      for (const s of [...svc.streams]) if (s.worker === worker) this.end(s, 'worker gone');
      if (svc.workers.size === 0 && svc.streams.size === 0 && svc.waiters.length === 0) this.services.delete(name);
    }
  }

  private takeNow(service: string, worker: number): StreamMessage | undefined {
    const svc = this.services.get(service);
    if (svc === undefined) return undefined;
    for (const s of svc.streams) {
      if (s.queue.length === 0 || (s.worker !== undefined && s.worker !== worker)) continue;
      s.worker = worker;
      const m = s.queue.shift()!;
      s.taken.add(m.seq);
      // Rotate: the next worker call looks at the other streams first.
      svc.streams.delete(s);
      svc.streams.add(s);
      return m;
    }
    return undefined;
  }

  private serveWaiting(service: string): void {
    const svc = this.services.get(service);
    if (svc === undefined) return;
    for (const w of [...svc.waiters]) {
      const m = this.takeNow(service, w.worker);
      if (m !== undefined) w.resolve(m);
    }
  }

  /**
   * STREAMRESPOND: the answer to message `seq`. Resolves once it (and any earlier answers held
   * for it) reached the consumer, so a worker answering in order is paced by the consumer.
   */
  respond(ref: string, seq: number, payload: Uint8Array): Promise<void> | undefined {
    const s = this.get(ref);
    if (!s.taken.delete(seq)) throw new CrissError('ERR', `message ${seq} of this stream is not waiting for an answer`);
    s.results.set(seq, Buffer.from(payload));
    if (s.delivering !== undefined) return s.delivering;
    if (seq !== s.nextDeliver) return undefined;
    const waiting = this.deliverReady(s);
    if (waiting === undefined) return undefined;
    s.delivering = waiting.finally(() => (s.delivering = undefined));
    return s.delivering;
  }

  /** Delivers the answers that are next in order; a promise only if the consumer made it wait. */
  private deliverReady(s: Stream): Promise<void> | undefined {
    for (;;) {
      const payload = s.results.get(s.nextDeliver);
      if (payload === undefined || s.ended) return undefined;
      s.results.delete(s.nextDeliver);
      let wait: Promise<void> | undefined;
      try {
        wait = s.consumer.deliver(s.nextDeliver, payload);
      } catch (err) {
        this.consumerFailed(s, err);
        return undefined;
      }
      if (wait !== undefined) {
        return wait.then(
          () => {
            this.delivered1(s, payload.length);
            return this.deliverReady(s);
          },
          (err: unknown) => this.consumerFailed(s, err),
        );
      }
      this.delivered1(s, payload.length);
    }
  }

  private delivered1(s: Stream, bytes: number): void {
    s.nextDeliver++;
    this.delivered++;
    this.deliveredBytes += bytes;
    for (const w of s.spaceWaiters.splice(0)) w();
  }

  private consumerFailed(s: Stream, err: unknown): void {
    this.logger.info({ ref: s.ref, err: (err as Error).message }, 'stream consumer failed');
    this.end(s, 'consumer gone');
  }

  /** STREAMSTOP, or the producer went away. */
  stop(ref: string, reason: string): void {
    const s = this.streams.get(ref);
    if (s !== undefined) this.end(s, reason);
  }

  private end(s: Stream, reason: string): void {
    if (s.ended) return;
    s.ended = true;
    this.streams.delete(s.ref);
    this.services.get(s.service)?.streams.delete(s);
    for (const w of s.spaceWaiters.splice(0)) w();
    this.logger.info({ ref: s.ref, service: s.service, reason, delivered: s.nextDeliver - 1 }, 'stream ended');
    s.consumer.end(reason);
  }

  info(): Array<[string, number]> {
    let waiting = 0;
    for (const svc of this.services.values()) waiting += svc.waiters.length;
    return [
      ['streams_open', this.streams.size],
      ['streams_started', this.started],
      ['stream_messages_sent', this.sent],
      ['stream_results_delivered', this.delivered],
      ['stream_result_bytes', this.deliveredBytes],
      ['stream_workers_waiting', waiting],
    ];
  }
}

/** Unsent bytes a consumer may hold before a stream waits for it. */
export const CONSUMER_HIGH_WATER = 1024 * 1024;

/** What a stream's results reach through pub/sub: its PSUBSCRIBE ref subscribers here. */
export interface ResultChannels {
  publish(channel: Uint8Array, payload: Uint8Array): number;
  sinks(channel: Uint8Array): Array<{ writable?(bytes: number): Promise<void> | undefined }>;
}

/**
 * Results as `pmessage` frames to whoever PSUBSCRIBEd the ref on this daemon, each delivery
 * waiting until every one of them has taken the previous ones (under CONSUMER_HIGH_WATER).
 * The end is a message on `…:end` carrying the reason.
 */
export function pubsubConsumer(broker: ResultChannels, ref: string): StreamConsumer {
  return {
    deliver(seq, payload) {
      const channel = Buffer.from(streamChannel(ref, seq), 'latin1');
      broker.publish(channel, payload);
      const waits = broker.sinks(channel).map((s) => s.writable?.(CONSUMER_HIGH_WATER)).filter((w) => w !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
    end(reason) {
      broker.publish(Buffer.from(streamChannel(ref, 'end'), 'latin1'), Buffer.from(reason));
    },
  };
}
