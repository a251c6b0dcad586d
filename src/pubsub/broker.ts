import type { ReplyWriter } from '../resp/reply.ts';
import { globMatch } from './glob.ts';

/** Where a subscriber's messages go: a client connection, in the order they are pushed. */
export interface PushSink {
  /** Queues one out-of-band frame behind whatever the client was already sent. */
  push(frame: (w: ReplyWriter) => void): void;
  /** Undefined when fewer than `bytes` are waiting to reach the client, else a promise of that (or of its going). */
  writable?(bytes: number): Promise<void> | undefined;
}

/** A channel or pattern as bytes, keyed by their latin1 text (one char per byte, so binary-safe). */
function key(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

interface PatternEntry {
  readonly pattern: Buffer;
  readonly subscribers: Set<Subscriptions>;
}

/**
 * The daemon's pub/sub: who listens on which channel and pattern, and delivery. Channel
 * subscribers hear a message first, in the order they subscribed, then pattern subscribers in
 * the order the patterns were first subscribed (Redis walks its pattern dict in hash order,
 * which no client can rely on). A client subscribed to a channel and to patterns matching it
 * gets one frame for each, as in Redis.
 */
export class Broker {
  private readonly channels = new Map<string, Set<Subscriptions>>();
  private readonly patterns = new Map<string, PatternEntry>();
  /** PUBLISH calls (local and from the cluster). */
  published = 0;
  /** Frames handed to subscribers. */
  delivered = 0;

  /** The subscription set of one client, empty until it subscribes. */
  open(sink: PushSink): Subscriptions {
    return new Subscriptions(this, sink);
  }

  /** Delivers to every matching subscriber here; returns how many frames went out. */
  publish(channel: Uint8Array, payload: Uint8Array): number {
    this.published++;
    let n = 0;
    const subs = this.channels.get(key(channel));
    if (subs !== undefined) {
      for (const s of subs) s.sink.push((w) => writeMessage(w, channel, payload));
      n += subs.size;
    }
    for (const p of this.patterns.values()) {
      if (!globMatch(p.pattern, channel)) continue;
      for (const s of p.subscribers) s.sink.push((w) => writePatternMessage(w, p.pattern, channel, payload));
      n += p.subscribers.size;
    }
    this.delivered += n;
    return n;
  }

  /** The sinks a message on `channel` reaches, each once: who a stream waits for. */
  sinks(channel: Uint8Array): PushSink[] {
    const out = new Set<PushSink>();
    for (const s of this.channels.get(key(channel)) ?? []) out.add(s.sink);
    for (const p of this.patterns.values()) if (globMatch(p.pattern, channel)) for (const s of p.subscribers) out.add(s.sink);
    return [...out];
  }

  /** Channels with at least one subscriber, those matching `pattern` if given (PUBSUB CHANNELS). */
  activeChannels(pattern?: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    for (const name of this.channels.keys()) {
      const b = Buffer.from(name, 'latin1');
      if (pattern === undefined || globMatch(pattern, b)) out.push(b);
    }
    return out;
  }

  /** Subscribers of exactly this channel, patterns not counted (PUBSUB NUMSUB). */
  subscribers(channel: Uint8Array): number {
    return this.channels.get(key(channel))?.size ?? 0;
  }

  /** Distinct patterns subscribed to (PUBSUB NUMPAT). */
  get patternCount(): number {
    return this.patterns.size;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** @internal Subscriptions call these. */
  addChannel(k: string, s: Subscriptions): void {
    let set = this.channels.get(k);
    if (set === undefined) this.channels.set(k, (set = new Set()));
    set.add(s);
  }

  /** @internal */
  removeChannel(k: string, s: Subscriptions): void {
    const set = this.channels.get(k);
    if (set === undefined) return;
    set.delete(s);
    if (set.size === 0) this.channels.delete(k);
  }

  /** @internal */
  addPattern(k: string, pattern: Buffer, s: Subscriptions): void {
    let entry = this.patterns.get(k);
    if (entry === undefined) this.patterns.set(k, (entry = { pattern, subscribers: new Set() }));
    entry.subscribers.add(s);
  }

  /** @internal */
  removePattern(k: string, s: Subscriptions): void {
    const entry = this.patterns.get(k);
    if (entry === undefined) return;
    entry.subscribers.delete(s);
    if (entry.subscribers.size === 0) this.patterns.delete(k);
  }

  info(): Array<[string, number]> {
    return [
      ['pubsub_channels', this.channels.size],
      ['pubsub_patterns', this.patterns.size],
      ['pubsub_messages_published', this.published],
      ['pubsub_messages_delivered', this.delivered],
    ];
  }
}

/**
 * One client's channels and patterns. Replies to (UN)SUBSCRIBE carry the client's total count
 * after each change, channels and patterns together, as Redis counts them.
 */
export class Subscriptions {
  readonly sink: PushSink;
  private readonly broker: Broker;
  private readonly channelSet = new Map<string, Buffer>();
  private readonly patternSet = new Map<string, Buffer>();

  constructor(broker: Broker, sink: PushSink) {
    this.broker = broker;
    this.sink = sink;
  }

  get count(): number {
    return this.channelSet.size + this.patternSet.size;
  }

  get channelCount(): number {
    return this.channelSet.size;
  }

  get patternCount(): number {
    return this.patternSet.size;
  }

  /** False when already subscribed (the reply is the same, the count unchanged). */
  subscribe(channel: Uint8Array): boolean {
    const k = key(channel);
    if (this.channelSet.has(k)) return false;
    this.channelSet.set(k, Buffer.from(channel));
    this.broker.addChannel(k, this);
    return true;
  }

  unsubscribe(channel: Uint8Array): boolean {
    const k = key(channel);
    if (!this.channelSet.delete(k)) return false;
    this.broker.removeChannel(k, this);
    return true;
  }

  psubscribe(pattern: Uint8Array): boolean {
    const k = key(pattern);
    if (this.patternSet.has(k)) return false;
    const copy = Buffer.from(pattern);
    this.patternSet.set(k, copy);
    this.broker.addPattern(k, copy, this);
    return true;
  }

  punsubscribe(pattern: Uint8Array): boolean {
    const k = key(pattern);
    if (!this.patternSet.delete(k)) return false;
    this.broker.removePattern(k, this);
    return true;
  }

  channels(): Buffer[] {
    return [...this.channelSet.values()];
  }

  patterns(): Buffer[] {
    return [...this.patternSet.values()];
  }

  /** Leaves everything silently: the client went away or sent RESET. */
  close(): void {
    for (const k of this.channelSet.keys()) this.broker.removeChannel(k, this);
    for (const k of this.patternSet.keys()) this.broker.removePattern(k, this);
    this.channelSet.clear();
    this.patternSet.clear();
  }
}

export function writeMessage(w: ReplyWriter, channel: Uint8Array, payload: Uint8Array): void {
  w.push(3);
  w.bulk('message');
  w.bulk(channel);
  w.bulk(payload);
}

export function writePatternMessage(w: ReplyWriter, pattern: Uint8Array, channel: Uint8Array, payload: Uint8Array): void {
  w.push(4);
  w.bulk('pmessage');
  w.bulk(pattern);
  w.bulk(channel);
  w.bulk(payload);
}

/** Where a client's Subscriptions live in its session state (closed with it, and by RESET). */
export const SUBSCRIPTIONS = 'pubsub';

export function subscriptionsOf(state: ReadonlyMap<string, unknown>): Subscriptions | undefined {
  const s = state.get(SUBSCRIPTIONS);
  return s instanceof Subscriptions ? s : undefined;
}

/** In RESP2 a client with any subscription may only run these (Redis's subscribed context). */
export const SUBSCRIBED_CONTEXT = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'PING', 'QUIT', 'RESET']);

/** Whether a RESP2 client is in subscribed mode. */
export function inSubscribedContext(protocol: 2 | 3, state: ReadonlyMap<string, unknown>): boolean {
  return protocol === 2 && (subscriptionsOf(state)?.count ?? 0) > 0;
}
