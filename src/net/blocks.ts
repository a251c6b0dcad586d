import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal';
import { lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { Uint8ArrayList } from 'uint8arraylist';
import { holdsNoLinks, linksIn } from '../codec/index.ts';
import type { BlockKind } from '../store/blockstore.ts';
import type { Id } from '../store/id.ts';
import { isRefAt, refId, refMayLink } from '../tree/blob.ts';
import { TreeNode } from '../tree/node.ts';
import { BlockClient } from './block-client.ts';
import { BLOCKS_PROTOCOL, ENTRY_BYTES, IDLE_MS, MAX_WANTS, type Want, decodeWant, frameOf } from './block-wire.ts';
import { sendAll } from './frames.ts';
import { PeerRates } from './rate.ts';

export { BlockClient } from './block-client.ts';
export { BLOCKS_PROTOCOL, LyingPeerError, type Want } from './block-wire.ts';

const WRITE_RUN = 4 * 1024 * 1024;
/** Nodes read from the store in one batch when a want-list asks for several in a row. */
const NODE_BATCH = 64;
const MAX_REQUESTS_PER_STREAM = 1_000_000;

/** A block a walk reaches; `flat` for a blob whose reference says it is bytes or a string, which links to nothing. */
export interface Reached extends Want {
  flat?: boolean;
}

/**
 * What a block links to: a node's children, blob references and linked trees; a blob's links
 * (a blob in pieces is gathered only if it may hold one: a file's chunk never does).
 */
export function reachedFrom(kind: BlockKind, bytes: Uint8Array | Uint8ArrayList, id: Id): Reached[] {
  if (kind === 'node') return reachedFromNode(TreeNode.parse(Buffer.from(id), bytes.subarray()));
  if (bytes instanceof Uint8ArrayList && (bytes.byteLength === 0 || holdsNoLinks(bytes.get(0)))) return [];
  return linksIn(bytes.subarray()).map((l) => ({ kind: 'node', id: l }));
}

/** What a parsed node reaches: reachedFrom without parsing it again. */
export function reachedFromNode(node: TreeNode): Reached[] {
  const out: Reached[] = [];
  for (let i = 0; i < node.length; i++) {
    if (node.level > 0) {
      out.push({ kind: 'node', id: node.child(i) });
      continue;
    }
    const v = node.val(i);
    if (isRefAt(v, 0)) {
      out.push({ kind: 'blob', id: refId(v), flat: !refMayLink(v) });
    } else {
      for (const l of linksIn(v)) out.push({ kind: 'node', id: l });
    }
  }
  return out;
}
/** The local blocks this node serves. */
export interface BlockStoreReader {
  getBlock(id: Id): Promise<Uint8Array | undefined>;
  /** Several nodes in one batched read, in order. */
  getBlocks(ids: Id[]): Promise<Array<Uint8Array | undefined>>;
  getBlob(id: Id): Promise<Uint8Array | undefined>;
}

/** Nodes read at once by `readInTurn`. */
const READ_BATCH = 256;

/** The end of the run of node wants that starts at `from`, at most `max` long. */
function nodeRunEnd(wants: readonly Want[], from: number, max: number): number {
  let end = from + 1;
  while (end < wants.length && end - from < max && wants[end].kind === 'node') end++;
  return end;
}

/**
 * Reads `wants` from `store` in order, handing each block (undefined: not here) to `each`: runs
 * of up to READ_BATCH nodes in one batched read (a 1M-key tree is 32,000 nodes, and a read each
 * was a thread-pool trip each), blobs one at a time, each handed over before the next read, so
 * a frontier of big blobs is never in memory at once.
 */
export async function readInTurn<W extends Want>(store: BlockStoreReader, wants: readonly W[], each: (w: W, bytes: Uint8Array | undefined) => void): Promise<void> {
  for (let i = 0; i < wants.length; ) {
    if (wants[i].kind === 'blob') {
      each(wants[i], await store.getBlob(wants[i].id));
      i++;
      continue;
    }
    const end = nodeRunEnd(wants, i, READ_BATCH);
    const run = wants.slice(i, end);
    const got = await store.getBlocks(run.map((w) => w.id));
    run.forEach((w, k) => each(w, got[k]));
    i = end;
  }
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

  /**
   * The blocks of `wants` from `from` on that the next read takes: a run of up to NODE_BATCH
   * nodes in one batched store read (a clone of a 1M-key tree asks for 32,000 small nodes, and
   * a read each cost a trip through the thread pool each), or one blob (big: read alone, so a
   * run holds few of them). Undefined for a block not served.
   */
  private async lookup(wants: Want[], from: number): Promise<Array<Uint8Array | undefined>> {
    const w = wants[from];
    if (w.kind === 'blob') return [this.init.isServed(w.id) ? await this.init.store.getBlob(w.id) : undefined];
    const run = wants.slice(from, nodeRunEnd(wants, from, NODE_BATCH));
    const served = run.map((x) => this.init.isServed(x.id));
    const ids = run.filter((_, i) => served[i]).map((x) => x.id);
    const got = ids.length === 0 ? [] : await this.init.store.getBlocks(ids);
    let n = 0;
    return served.map((s) => (s ? got[n++] : undefined));
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
        const blocks = await this.lookup(wants, next);
        next += blocks.length;
        for (const block of blocks) {
          pieces.push(...frameOf(block));
          bytes += (block?.length ?? 0) + 1;
          if (block === undefined) continue;
          this.served++;
          this.servedBytes += block.length;
        }
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
/** As a libp2p `services` entry. */
export function blockService(init: BlockServiceInit): (components: BlockServiceComponents) => BlockService {
  return (components) => new BlockService(components, init);
}
