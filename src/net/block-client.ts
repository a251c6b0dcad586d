import type { PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager } from '@libp2p/interface-internal';
import type { Logger } from 'pino';
import { Uint8ArrayList } from 'uint8arraylist';
import { CrissError } from '../errors.ts';
import { HASH_OFF_LOOP_BYTES, type Id, hasId, piecesHaveId } from '../store/id.ts';
import { BLOCK, BLOCKS_PROTOCOL, IDLE_MS, LyingPeerError, MAX_FRAME, MAX_WANTS, NONE, type Want, encodeWant } from './block-wire.ts';
import { FrameStream } from './frames.ts';

/**
 * The block held in `frame` from byte `skip` on, as the pieces it arrived in, if its id is `id`.
 * A block hashed on the loop is hashed where its pieces lie; only a bigger one is gathered for the thread pool.
 */
async function verified(frame: Uint8ArrayList, skip: number, id: Id): Promise<Uint8ArrayList | undefined> {
  const block = frame.sublist(skip);
  if (block.byteLength <= HASH_OFF_LOOP_BYTES) return piecesHaveId(block, id) ? block : undefined;
  const bytes = block.subarray();
  return (await hasId(bytes, id)) ? new Uint8ArrayList(bytes) : undefined;
}

/** A client stream idle this long is replaced rather than reused: the server may be closing it. */
const REUSE_MS = IDLE_MS / 2;
/** Want-lists a client sends ahead of the answers it is reading, per stream. */
const MAX_AHEAD = 4;
/** Streams a client opens to one peer (the server takes up to 8 per connection). */
const LANES = 2;

/** What a client adds to: its service's counters. */
export interface FetchCounters {
  fetched: number;
  fetchedBytes: number;
  fetching: number;
}

interface Conn {
  s: Stream;
  lp: FrameStream;
}

/**
 * One stream of a client. Want-lists go out as soon as they are asked for, up to MAX_AHEAD
 * unanswered, and their answers are read in the order they were sent, which is the order the
 * server answers in: the server always has the next want-list at hand, so the stream does not
 * idle for a round trip between them.
 */
class Lane {
  private readonly client: BlockClient;
  private stream: Promise<Conn> | undefined;
  /** The last want-list written (or failed): the next is written after it. */
  private written: Promise<unknown> = Promise.resolve();
  /** The answers of the last MAX_AHEAD want-lists, settled once read (or failed), oldest first. */
  private reads: Array<Promise<unknown>> = [];
  /** Want-lists sent whose answers are not read yet. */
  private unanswered = 0;
  private lastUsed = 0;

  constructor(client: BlockClient) {
    this.client = client;
  }

  /** Sends one want-list once fewer than MAX_AHEAD are unanswered, then reads its answer after the earlier ones'. */
  want(batch: Want[], signal: AbortSignal, onBlock?: (bytes: number) => void): Promise<Array<Uint8ArrayList | undefined>> {
    const room = this.reads.length >= MAX_AHEAD ? this.reads[this.reads.length - MAX_AHEAD] : undefined;
    const before = this.reads.at(-1);
    const sent = this.written.then(() => room).then(async () => {
      if (this.client.closed) throw new CrissError('CLOSED', `peer ${this.client.peer.toString()} was dropped`);
      const conn = await this.open(signal);
      this.unanswered++;
      await conn.lp.write(encodeWant(batch), signal);
      return conn;
    });
    this.written = sent.catch(() => undefined);
    const read = Promise.all([sent, before]).then(([conn]) => this.answers(conn, batch, signal, onBlock));
    this.reads.push(read.catch(() => undefined));
    if (this.reads.length > MAX_AHEAD) this.reads.shift();
    return read;
  }

  /**
   * Reads the answer to one want-list. Each block is checked against its id (a big one on the
   * thread pool) while the next ones are read; none is handed out unchecked.
   */
  private async answers(conn: Conn, batch: Want[], signal: AbortSignal, onBlock?: (bytes: number) => void): Promise<Array<Uint8ArrayList | undefined>> {
    const checks: Array<Promise<Uint8ArrayList | undefined>> = [];
    for (const w of batch) {
      const frame = await conn.lp.read(signal);
      if (frame.byteLength === 1 && frame.get(0) === NONE) {
        checks.push(Promise.resolve(undefined));
        continue;
      }
      const check = (frame.byteLength > 0 && frame.get(0) === BLOCK ? verified(frame, 1, w.id) : Promise.resolve(undefined)).then((block) => {
        if (block === undefined) throw new LyingPeerError(this.client.peer.toString(), w.id);
        this.client.counters.fetched++;
        this.client.counters.fetchedBytes += block.byteLength;
        onBlock?.(block.byteLength);
        return block;
      });
      // Awaited together below; a stream failing first must not leave a bad block's rejection unhandled.
      check.catch(() => undefined);
      checks.push(check);
      // A read answers from its buffer without looking at the signal: stop here, not after the want-list.
      signal.throwIfAborted();
    }
    const out = await Promise.all(checks);
    signal.throwIfAborted();
    this.unanswered--;
    this.lastUsed = Date.now();
    return out;
  }

  private open(signal: AbortSignal): Promise<Conn> {
    if (this.stream !== undefined && this.unanswered === 0 && Date.now() - this.lastUsed > REUSE_MS) {
      void this.stream.then(({ s }) => s.abort(new Error('idle')), () => undefined);
      this.stream = undefined;
    }
    this.lastUsed = Date.now();
    this.stream ??= this.client.cm.openStream(this.client.peer, BLOCKS_PROTOCOL, { signal }).then((s) => ({
      s,
      lp: new FrameStream(s, MAX_FRAME),
    }));
    return this.stream;
  }

  close(): void {
    void this.stream?.then(({ s }) => s.abort(new Error('closed')), () => undefined);
  }
}

/**
 * Fetches blocks from one peer on LANES streams, want-lists (at most MAX_WANTS entries each)
 * taking them in turn: each stream has its own flow-control window, so a pause of this node's
 * event loop (a collection, say) does not stall the peer on one full window.
 */
export class BlockClient {
  readonly peer: PeerId;
  closed = false;
  readonly cm: ConnectionManager;
  readonly counters: FetchCounters;
  private readonly logger: Logger;
  private readonly lanes: Lane[];
  private turn = 0;

  constructor(peer: PeerId, cm: ConnectionManager, logger: Logger, counters: FetchCounters) {
    this.peer = peer;
    this.cm = cm;
    this.logger = logger;
    this.counters = counters;
    this.lanes = Array.from({ length: LANES }, () => new Lane(this));
  }

  /**
   * The blocks in order, each as the pieces it arrived in (a clone writes a blob to disk as they
   * lie, never gathered into one buffer); undefined for one the peer does not serve. Throws
   * LyingPeerError on a bad block. `onBlock` hears each verified block's size as it arrives.
   */
  async fetch(wants: Want[], signal: AbortSignal, onBlock?: (bytes: number) => void): Promise<Array<Uint8ArrayList | undefined>> {
    if (this.closed) throw new CrissError('CLOSED', `peer ${this.peer.toString()} was dropped`);
    this.counters.fetching++;
    try {
      const lists: Array<Promise<Array<Uint8ArrayList | undefined>>> = [];
      for (let i = 0; i < wants.length; i += MAX_WANTS) lists.push(this.lanes[this.turn++ % LANES].want(wants.slice(i, i + MAX_WANTS), signal, onBlock));
      // All are awaited: one failing first must not leave the others' rejections unhandled.
      const settled = await Promise.allSettled(lists);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      return settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    } catch (err) {
      this.close();
      if (err instanceof LyingPeerError) this.logger.info({ remote: this.peer.toString(), err: err.message }, 'dropped a peer that sent a bad block');
      throw err;
    } finally {
      this.counters.fetching--;
    }
  }

  close(): void {
    this.closed = true;
    for (const lane of this.lanes) lane.close();
  }
}
