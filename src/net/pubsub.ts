import { randomBytes } from 'node:crypto';
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';

/** docs/pubsub.md, cluster-wide PUBLISH */
export const PUBSUB_PROTOCOL = '/crisscross/pubsub/1.0.0';
const MESSAGE = 0x01;
const ID_BYTES = 16;
const HEADER = 1 + ID_BYTES + 1 + 4;
/** A message (channel and payload) travels if it fits here; PUBLISH refuses a larger one. */
export const MAX_CLUSTER_MESSAGE = 8 * 1024 * 1024;
/** Relays after the first hop; a cluster wider than this in hops misses messages. */
const MAX_HOPS = 8;
/** Ids remembered to drop a message arriving again over another path. */
const SEEN = 65_536;
/** Bytes queued for one peer before further messages to it are dropped (at-most-once, like Redis). */
const PEER_QUEUE_BYTES = 16 * 1024 * 1024;
const IDLE_MS = 60_000;
/** An outbound stream idle this long is replaced before use: libp2p closes idle streams (120 s). */
const REUSE_MS = 30_000;

export interface PubsubServiceInit {
  /** A message from the cluster, for this daemon's subscribers. */
  deliver(channel: Uint8Array, payload: Uint8Array): void;
  logger: Logger;
}

export interface PubsubServiceComponents {
  registrar: Registrar;
  connectionManager: ConnectionManager;
}

interface Decoded {
  id: string;
  hops: number;
  channel: Uint8Array;
  payload: Uint8Array;
}

function encode(id: Buffer, hops: number, channel: Uint8Array, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + channel.length + payload.length);
  out[0] = MESSAGE;
  id.copy(out, 1);
  out[1 + ID_BYTES] = hops;
  out.writeUInt32BE(channel.length, 2 + ID_BYTES);
  out.set(channel, HEADER);
  out.set(payload, HEADER + channel.length);
  return out;
}

function decode(frame: Uint8Array): Decoded {
  if (frame.length < HEADER || frame[0] !== MESSAGE) throw new Error('not a pubsub message');
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const channelLength = b.readUInt32BE(2 + ID_BYTES);
  if (HEADER + channelLength > b.length) throw new Error('channel runs past the frame');
  return {
    id: b.toString('hex', 1, 1 + ID_BYTES),
    hops: b[1 + ID_BYTES],
    channel: b.subarray(HEADER, HEADER + channelLength),
    payload: b.subarray(HEADER + channelLength),
  };
}

/** One outbound stream to a peer, written in order; a backlog past PEER_QUEUE_BYTES drops. */
class Outbound {
  closed = false;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private running = false;
  private readonly peer: PeerId;
  private readonly cm: ConnectionManager;
  private readonly owner: PubsubService;
  private lp: LengthPrefixedStream<Stream> | undefined;
  private stream: Stream | undefined;
  private lastUsed = 0;

  constructor(peer: PeerId, cm: ConnectionManager, owner: PubsubService) {
    this.peer = peer;
    this.cm = cm;
    this.owner = owner;
  }

  enqueue(frame: Buffer): boolean {
    if (this.queued + frame.length > PEER_QUEUE_BYTES) return false;
    this.queue.push(frame);
    this.queued += frame.length;
    if (!this.running) void this.run();
    return true;
  }

  private async run(): Promise<void> {
    this.running = true;
    let batch: Buffer[] = [];
    try {
      while (this.queue.length > 0) {
        batch = this.queue.splice(0);
        for (const f of batch) this.queued -= f.length;
        try {
          await this.write(batch);
        } catch {
          // The stream may have been closed by the peer while idle: one fresh stream, then give up.
          this.reset();
          await this.write(batch);
        }
        batch = [];
      }
    } catch (err) {
      this.owner.lost(this.peer, err as Error, batch.length + this.queue.length);
      this.close();
    } finally {
      this.running = false;
    }
  }

  private async write(batch: Buffer[]): Promise<void> {
    if (this.lp !== undefined && Date.now() - this.lastUsed > REUSE_MS) this.reset();
    if (this.lp === undefined) {
      this.stream = await this.cm.openStream(this.peer, PUBSUB_PROTOCOL, { signal: AbortSignal.timeout(IDLE_MS) });
      this.lp = lpStream(this.stream, { maxDataLength: HEADER + MAX_CLUSTER_MESSAGE });
    }
    this.lastUsed = Date.now();
    await this.lp.writeV(batch, { signal: AbortSignal.timeout(IDLE_MS) });
  }

  private reset(): void {
    this.stream?.abort(new Error('replaced'));
    this.stream = undefined;
    this.lp = undefined;
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.stream?.abort(new Error('closed'));
  }
}

/**
 * Cluster-wide PUBLISH by flooding (docs/pubsub.md): a message goes to every connected
 * member, each delivers it to its own subscribers and relays it to its other peers, once per
 * message id. Ours rather than gossipsub: a private cluster is a handful of nodes, mostly all
 * connected, where flooding costs one copy per link, needs no mesh to form (gossipsub's
 * heartbeat delays the first messages) and keeps one stream per peer, so messages from one
 * publisher arrive in the order published wherever they travel one path.
 */
export class PubsubService {
  private readonly components: PubsubServiceComponents;
  private readonly init: PubsubServiceInit;
  private readonly outbound = new Map<string, Outbound>();
  private readonly seen = new Set<string>();
  published = 0;
  received = 0;
  relayed = 0;
  dropped = 0;

  constructor(components: PubsubServiceComponents, init: PubsubServiceInit) {
    this.components = components;
    this.init = init;
  }

  readonly [Symbol.toStringTag] = 'crisscross/pubsub';

  async start(): Promise<void> {
    await this.components.registrar.handle(PUBSUB_PROTOCOL, (stream, connection) => this.receive(stream, connection), { maxInboundStreams: 4, maxOutboundStreams: 4 });
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(PUBSUB_PROTOCOL);
    for (const o of this.outbound.values()) o.close();
    this.outbound.clear();
  }

  /** Sends to every connected member; returns how many peers it was handed to. */
  publish(channel: Uint8Array, payload: Uint8Array): number {
    const id = randomBytes(ID_BYTES);
    this.remember(id.toString('hex'));
    this.published++;
    return this.fanOut(encode(id, 0, channel, payload), undefined);
  }

  /** @internal an outbound stream failed; what it held is lost. */
  lost(peer: PeerId, err: Error, frames: number): void {
    this.dropped += frames;
    this.init.logger.info({ remote: peer.toString(), err: err.message, dropped: frames }, 'pubsub stream to a peer failed');
  }

  private fanOut(frame: Buffer, except: string | undefined): number {
    const peers = new Map<string, PeerId>();
    for (const c of this.components.connectionManager.getConnections()) peers.set(c.remotePeer.toString(), c.remotePeer);
    let n = 0;
    for (const [key, peer] of peers) {
      if (key === except) continue;
      let o = this.outbound.get(key);
      if (o === undefined || o.closed) this.outbound.set(key, (o = new Outbound(peer, this.components.connectionManager, this)));
      if (o.enqueue(frame)) n++;
      else {
        this.dropped++;
        this.init.logger.info({ remote: key }, 'pubsub peer is behind; message dropped for it');
      }
    }
    for (const [key, o] of this.outbound) if (!peers.has(key)) (o.close(), this.outbound.delete(key));
    return n;
  }

  private remember(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > SEEN) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  private async receive(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: HEADER + MAX_CLUSTER_MESSAGE });
    try {
      for (;;) {
        let frame: Uint8Array;
        try {
          frame = (await lp.read()).subarray();
        } catch {
          break;
        }
        const m = decode(frame);
        if (!this.remember(m.id)) continue;
        this.received++;
        this.init.deliver(m.channel, m.payload);
        if (m.hops < MAX_HOPS) {
          const relay = Buffer.from(frame);
          relay[1 + ID_BYTES] = m.hops + 1;
          this.relayed += this.fanOut(relay, from);
        }
      }
      await stream.close();
    } catch (err) {
      this.init.logger.info({ remote: from, err: (err as Error).message }, 'refused a malformed pubsub stream');
      stream.abort(err as Error);
    }
  }

  info(): string {
    return `pubsub_published=${this.published},pubsub_received=${this.received},pubsub_relayed=${this.relayed},pubsub_dropped=${this.dropped}`;
  }
}

/** As a libp2p `services` entry. */
export function pubsubService(init: PubsubServiceInit): (components: PubsubServiceComponents) => PubsubService {
  return (components) => new PubsubService(components, init);
}
