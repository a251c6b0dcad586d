import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { Uint8ArrayList } from 'uint8arraylist';
import { linksIn } from '../codec/index.ts';
import { MAX_VALUE_BYTES } from '../codec/format.ts';
import { CrissError } from '../errors.ts';
import type { BlockKind } from '../store/blockstore.ts';
import { ID_BYTES, type Id, idToText } from '../store/id.ts';
import { isRefAt, refId } from '../tree/blob.ts';
import { TreeNode } from '../tree/node.ts';
import { verified } from './hash-thread.ts';
import { PeerRates } from './rate.ts';

/** docs/blocks-protocol.md */
export const BLOCKS_PROTOCOL = '/crisscross/blocks/1.0.0';
export const MAX_WANTS = 256;
/** A frame holds one block at most: the largest blob plus its type byte. */
export const MAX_FRAME = MAX_VALUE_BYTES + 1;
const WANT = 0x01;
const BLOCK = 0x02;
const NONE = 0x03;
const KIND_NODE = 0;
const KIND_BLOB = 1;
const ENTRY_BYTES = 1 + ID_BYTES;
const IDLE_MS = 60_000;
/** A client stream idle this long is replaced rather than reused: the server may be closing it. */
const REUSE_MS = IDLE_MS / 2;
const WRITE_RUN = 4 * 1024 * 1024;
const MAX_REQUESTS_PER_STREAM = 1_000_000;
/** Want-lists a client sends ahead of the answers it is reading, per stream. */
export const MAX_AHEAD = 4;
/** Streams a client opens to one peer (the server takes up to 8 per connection). */
export const LANES = 2;

export interface Want {
  kind: BlockKind;
  id: Id;
}

/** What a block links to: a node's children, blob references and linked trees; a blob's links. */
export function reachedFrom(kind: BlockKind, bytes: Uint8Array, id: Id): Want[] {
  const out: Want[] = [];
  if (kind === 'blob') {
    for (const l of linksIn(bytes)) out.push({ kind: 'node', id: l });
    return out;
  }
  const node = TreeNode.parse(Buffer.from(id), bytes);
  for (let i = 0; i < node.length; i++) {
    if (node.level > 0) {
      out.push({ kind: 'node', id: node.child(i) });
      continue;
    }
    const v = node.val(i);
    if (isRefAt(v, 0)) {
      out.push({ kind: 'blob', id: refId(v) });
    } else {
      for (const l of linksIn(v)) out.push({ kind: 'node', id: l });
    }
  }
  return out;
}

/** The local blocks this node serves. */
export interface BlockStoreReader {
  getBlock(id: Id): Promise<Uint8Array | undefined>;
  getBlob(id: Id): Promise<Uint8Array | undefined>;
}

export interface BlockServiceInit {
  store: BlockStoreReader;
  /** Whether a live announcement of this cluster reaches the block (links included). */
  isServed(id: Id): boolean;
  logger: Logger;
  /** Bytes per second sent to any one peer (shared by its streams); 0 or absent: unlimited. */
  serveRate?: number;
}

export interface BlockServiceComponents {
  registrar: Registrar;
  connectionManager: ConnectionManager;
}

function encodeWant(wants: Want[]): Buffer {
  const out = Buffer.allocUnsafe(3 + wants.length * ENTRY_BYTES);
  out[0] = WANT;
  out.writeUInt16BE(wants.length, 1);
  wants.forEach((w, i) => {
    out[3 + i * ENTRY_BYTES] = w.kind === 'node' ? KIND_NODE : KIND_BLOB;
    out.set(w.id, 4 + i * ENTRY_BYTES);
  });
  return out;
}

function decodeWant(frame: Uint8Array): Want[] {
  if (frame.length < 3 || frame[0] !== WANT) throw new Error('not a want-list');
  const n = (frame[1] << 8) | frame[2];
  if (n < 1 || n > MAX_WANTS || frame.length !== 3 + n * ENTRY_BYTES) throw new Error(`bad want-list of ${n} entries`);
  return Array.from({ length: n }, (_, i) => {
    const k = frame[3 + i * ENTRY_BYTES];
    if (k !== KIND_NODE && k !== KIND_BLOB) throw new Error('bad block kind');
    const o = 4 + i * ENTRY_BYTES;
    return { kind: k === KIND_NODE ? 'node' : 'blob', id: Buffer.from(frame.subarray(o, o + ID_BYTES)) };
  });
}

const NONE_FRAME = Buffer.of(1, NONE);
const BLOCK_TYPE = Buffer.of(BLOCK);

/** The unsigned varint length prefix lpStream reads. */
function lengthPrefix(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** A BLOCK frame (or NONE) as pieces, so the block itself is never copied to be framed. */
function frameOf(block: Uint8Array | undefined): Uint8Array[] {
  return block === undefined ? [NONE_FRAME] : [lengthPrefix(block.length + 1), BLOCK_TYPE, block];
}

/** Sends `pieces` as one write, waiting for the stream to drain when its buffer is full. */
async function sendAll(stream: Stream, pieces: Uint8Array[], signal: AbortSignal): Promise<void> {
  if (stream.send(new Uint8ArrayList(...pieces))) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('stream closed'));
    const onAbort = (): void => done(signal.reason as Error);
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}

/** A peer sent a block that does not hash to the id asked for: it is dropped. */
export class LyingPeerError extends CrissError {
  readonly peer: string;

  constructor(peer: string, id: Id) {
    super('BADBLOCK', `peer ${peer} sent a block that does not match ${idToText(id)}`);
    this.name = 'LyingPeerError';
    this.peer = peer;
  }
}

/**
 * The block exchange of one cluster node (docs/blocks-protocol.md), as a libp2p service. It
 * serves only blocks that a live announcement of the cluster reaches: a peer asking for
 * anything else gets NONE, as if the block did not exist.
 */
export class BlockService {
  private readonly components: BlockServiceComponents;
  private readonly init: BlockServiceInit;
  private readonly clients = new Map<string, BlockClient>();
  served = 0;
  servedBytes = 0;
  fetched = 0;
  fetchedBytes = 0;
  /** Want-lists this node is answering right now. */
  serving = 0;
  /** Want-lists this node awaits answers to right now. */
  fetching = 0;
  /** Times a peer had to wait for its rate (`serveRate`). */
  throttled = 0;
  private readonly rates: PeerRates;

  constructor(components: BlockServiceComponents, init: BlockServiceInit) {
    this.components = components;
    this.init = init;
    this.rates = new PeerRates(init.serveRate ?? 0);
  }

  readonly [Symbol.toStringTag] = 'crisscross/blocks';

  async start(): Promise<void> {
    await this.components.registrar.handle(BLOCKS_PROTOCOL, (stream, connection) => this.serve(stream, connection), { maxInboundStreams: 8, maxOutboundStreams: 8 });
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(BLOCKS_PROTOCOL);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** A client for `peer` (one stream, want-lists in turn), reused until it fails. */
  client(peer: PeerId): BlockClient {
    const key = peer.toString();
    let c = this.clients.get(key);
    if (c === undefined || c.closed) {
      c = new BlockClient(peer, this.components.connectionManager, this.init.logger, this);
      this.clients.set(key, c);
    }
    return c;
  }

  private lookup(w: Want): Promise<Uint8Array | undefined> {
    if (!this.init.isServed(w.id)) return Promise.resolve(undefined);
    return w.kind === 'node' ? this.init.store.getBlock(w.id) : this.init.store.getBlob(w.id);
  }

  /**
   * Frames go out in runs of at most WRITE_RUN bytes, and the next run is read from the store
   * while the current one is sent, so the link does not wait on the disk: at most two runs
   * (plus one block) of a want-list sit in memory, not 256 big blobs.
   */
  private async answer(stream: Stream, wants: Want[], peer: string): Promise<void> {
    let next = 0;
    const readRun = async (): Promise<{ pieces: Uint8Array[]; bytes: number }> => {
      const pieces: Uint8Array[] = [];
      let bytes = 0;
      while (next < wants.length && bytes < WRITE_RUN) {
        const block = await this.lookup(wants[next++]);
        pieces.push(...frameOf(block));
        bytes += (block?.length ?? 0) + 1;
        if (block === undefined) continue;
        this.served++;
        this.servedBytes += block.length;
      }
      return { pieces, bytes };
    };
    let run = await readRun();
    while (run.pieces.length > 0) {
      const following = readRun();
      // Awaited below unless the send fails first: its rejection must not go unhandled.
      following.catch(() => undefined);
      const wait = this.rates.take(peer, run.bytes);
      if (wait > 0) {
        this.throttled++;
        await new Promise((r) => setTimeout(r, wait));
      }
      await sendAll(stream, run.pieces, AbortSignal.timeout(IDLE_MS));
      run = await following;
    }
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: 3 + MAX_WANTS * ENTRY_BYTES });
    try {
      for (let n = 0; n < MAX_REQUESTS_PER_STREAM; n++) {
        let frame: Uint8Array;
        try {
          frame = (await lp.read({ signal: AbortSignal.timeout(IDLE_MS) })).subarray();
        } catch {
          break;
        }
        let wants: Want[];
        try {
          wants = decodeWant(frame);
        } catch (err) {
          this.init.logger.info({ remote: peer, err: (err as Error).message }, 'refused a malformed request');
          stream.abort(err as Error);
          return;
        }
        this.serving++;
        try {
          await this.answer(stream, wants, peer);
        } finally {
          this.serving--;
        }
      }
      await stream.close({ signal: AbortSignal.timeout(IDLE_MS) });
    } catch (err) {
      this.init.logger.info({ remote: peer, err: (err as Error).message }, 'block stream ended');
      stream.abort(err as Error);
    }
  }
}

/** What a client adds to: its service's counters. */
export interface FetchCounters {
  fetched: number;
  fetchedBytes: number;
  fetching: number;
}

interface Conn {
  s: Stream;
  lp: LengthPrefixedStream<Stream>;
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
  want(batch: Want[], signal: AbortSignal, onBlock?: (bytes: number) => void): Promise<Array<Uint8Array | undefined>> {
    const room = this.reads.length >= MAX_AHEAD ? this.reads[this.reads.length - MAX_AHEAD] : undefined;
    const before = this.reads.at(-1);
    const sent = this.written.then(() => room).then(async () => {
      if (this.client.closed) throw new CrissError('CLOSED', `peer ${this.client.peer.toString()} was dropped`);
      const conn = await this.open(signal);
      this.unanswered++;
      await conn.lp.write(encodeWant(batch), { signal });
      return conn;
    });
    this.written = sent.catch(() => undefined);
    const read = Promise.all([sent, before]).then(([conn]) => this.answers(conn, batch, signal, onBlock));
    this.reads.push(read.catch(() => undefined));
    if (this.reads.length > MAX_AHEAD) this.reads.shift();
    return read;
  }

  /**
   * Reads the answer to one want-list. Each block is checked against its id (on the hashing
   * thread when big) while the next ones are read; none is handed out unchecked.
   */
  private async answers(conn: Conn, batch: Want[], signal: AbortSignal, onBlock?: (bytes: number) => void): Promise<Array<Uint8Array | undefined>> {
    const checks: Array<Promise<Uint8Array | undefined>> = [];
    for (const w of batch) {
      const frame = await conn.lp.read({ signal });
      if (frame.byteLength === 1 && frame.get(0) === NONE) {
        checks.push(Promise.resolve(undefined));
        continue;
      }
      const check = (frame.byteLength > 0 && frame.get(0) === BLOCK ? verified(frame, 1, w.id) : Promise.resolve(undefined)).then((block) => {
        if (block === undefined) throw new LyingPeerError(this.client.peer.toString(), w.id);
        this.client.counters.fetched++;
        this.client.counters.fetchedBytes += block.length;
        onBlock?.(block.length);
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
      lp: lpStream(s, { maxDataLength: MAX_FRAME, maxBufferSize: MAX_FRAME + 1024 }),
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
   * The blocks in order; undefined for one the peer does not serve. Throws LyingPeerError on a
   * bad block. `onBlock` hears each verified block's size as it arrives.
   */
  async fetch(wants: Want[], signal: AbortSignal, onBlock?: (bytes: number) => void): Promise<Array<Uint8Array | undefined>> {
    if (this.closed) throw new CrissError('CLOSED', `peer ${this.peer.toString()} was dropped`);
    this.counters.fetching++;
    try {
      const lists: Array<Promise<Array<Uint8Array | undefined>>> = [];
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

/** As a libp2p `services` entry. */
export function blockService(init: BlockServiceInit): (components: BlockServiceComponents) => BlockService {
  return (components) => new BlockService(components, init);
}
