import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { Uint8ArrayList } from 'uint8arraylist';
import { CrissError } from '../errors.ts';
import type { BlockKind, BlockStore } from '../store/blockstore.ts';
import { type Id, idEquals, idKey, idToText } from '../store/id.ts';
import type { BlockSource } from '../tree/index.ts';
import { TreeNode } from '../tree/node.ts';
import { type BlockClient, type Want, reachedFrom, reachedFromNode } from './blocks.ts';
import type { Network } from './network.ts';

const FIND_TIMEOUT_MS = 20_000;
const FETCH_TIMEOUT_MS = 60_000;
/** Blocks fetched for remote reads, kept across commands (bytes). */
const CACHE_BYTES = 64 * 1024 * 1024;
/** Wants per round of a clone: several want-lists per provider in flight. */
const CLONE_ROUND = 4096;
/** Blobs per round: file chunks average ~300 KiB, so a round holds ~7 MiB, not a whole file; two are in flight and two commit. */
const BLOB_ROUND = 24;

/** How many wants from the front of the frontier the next round takes. */
function roundSize(frontier: Want[]): number {
  let blobs = 0;
  let n = 0;
  while (n < frontier.length && n < CLONE_ROUND && (frontier[n].kind !== 'blob' || ++blobs <= BLOB_ROUND)) n++;
  return Math.max(1, n);
}
/** A clone's commits under way at once: one syncing, one waiting to share the next sync. */
const COMMITS_AHEAD = 2;
/** How often an unpinned clone renews its root's grace: far below the collector's (60 s by default). */
const FRESH_EVERY_MS = 1000;

/** Recently fetched blocks by kind and id, bounded by bytes, oldest dropped first. */
export class BlockCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  private readonly max: number;

  constructor(max = CACHE_BYTES) {
    this.max = max;
  }

  get(kind: BlockKind, id: Id): Uint8Array | undefined {
    return this.map.get(`${kind}:${idKey(id)}`);
  }

  set(kind: BlockKind, id: Id, bytes: Uint8Array): void {
    const key = `${kind}:${idKey(id)}`;
    if (this.map.has(key) || bytes.length > this.max) return;
    this.map.set(key, bytes);
    this.bytes += bytes.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.max) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
}

export interface ProvidersOptions {
  /** Asked before the ones the DHT finds (a pusher serves what it asks others to store). */
  first?: PeerId[];
  /** Ends every fetch at once: a byte budget that ran out, a stopping node. */
  signal?: AbortSignal;
  /** Told the size of each block as it arrives (verified), before the rest of its want-list. */
  onBlock?: (bytes: number) => void;
}

/**
 * Fetches from up to `num` providers of one root at once: each batch is split among the live
 * providers; a provider that sends a bad block or fails is dropped and its share goes to the
 * others; a block one provider lacks is asked of the next.
 */
export class Providers {
  private readonly net: Network;
  private readonly cluster: string;
  private readonly root: Id;
  private readonly num: number;
  private readonly logger: Logger;
  private readonly opts: ProvidersOptions;
  private clients: Promise<BlockClient[]> | undefined;

  constructor(net: Network, cluster: string, root: Id, num: number, logger: Logger, opts: ProvidersOptions = {}) {
    this.net = net;
    this.cluster = cluster;
    this.root = root;
    this.num = num;
    this.logger = logger;
    this.opts = opts;
  }

  private live(): Promise<BlockClient[]> {
    this.clients ??= this.net.providers(this.cluster, this.root, this.num, AbortSignal.timeout(FIND_TIMEOUT_MS)).catch(() => []).then((found: PeerId[]) => {
      const node = this.net.node(this.cluster);
      const blocks = node.libp2p.services.blocks;
      // A tree reached only through a link (a file of an announced directory) has no provider
      // record of its own: the members at hand may still serve it.
      const fallback = found.length > 0 ? found : node.libp2p.getPeers();
      const first = this.opts.first ?? [];
      const peers = [...first, ...fallback.filter((p) => !first.some((f) => f.equals(p)))].slice(0, Math.max(this.num, first.length));
      this.logger.info({ cluster: this.cluster, root: idToText(this.root), providers: peers.map((p) => p.toString()) }, 'found providers');
      return peers.map((p) => blocks.client(p));
    });
    return this.clients;
  }

  /** Each block as the pieces it arrived in (see BlockClient.fetch). */
  async fetch(wants: Want[]): Promise<Array<Uint8ArrayList | undefined>> {
    const out: Array<Uint8ArrayList | undefined> = new Array(wants.length).fill(undefined);
    let pending = wants.map((_, i) => i);
    const tried = new Map<number, Set<BlockClient>>();
    // Each round either answers wants or drops a provider, so rounds are bounded by both.
    for (let round = 0; round <= this.num + 1 && pending.length > 0; round++) {
      const clients = (await this.live()).filter((c) => !c.closed);
      if (clients.length === 0) break;
      const shares = new Map<BlockClient, number[]>();
      pending.forEach((i, n) => {
        const fresh = clients.filter((c) => !tried.get(i)?.has(c));
        if (fresh.length === 0) return;
        const c = fresh[n % fresh.length];
        const share = shares.get(c);
        if (share === undefined) shares.set(c, [i]);
        else share.push(i);
        tried.set(i, (tried.get(i) ?? new Set()).add(c));
      });
      if (shares.size === 0) break;
      await Promise.all([...shares].map(async ([c, idx]) => {
        try {
          const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
          const got = await c.fetch(idx.map((i) => wants[i]), this.opts.signal ? AbortSignal.any([timeout, this.opts.signal]) : timeout, this.opts.onBlock);
          idx.forEach((i, k) => (out[i] = got[k]));
        } catch (err) {
          // The client closed itself: the next round leaves it out.
          this.logger.info({ remote: c.peer.toString(), err: (err as Error).message }, 'provider dropped; its share goes to the others');
        }
      }));
      // Not a provider's failure: the whole fetch ends with the signal's reason.
      this.opts.signal?.throwIfAborted();
      pending = pending.filter((i) => out[i] === undefined);
    }
    return out;
  }
}

/**
 * Local blocks first, then recently fetched ones, then the providers. With `keepBelow` (a
 * root), fetched blocks are also written to the local store, unpinned, all but that root itself
 * (REMOTE): a later read or clone finds them here until a collection reclaims them, while the
 * partial tree never passes for a local one (its root stays unknown here, so no local command or
 * pin can take it for whole). Without it they stay in the memory cache only (REMOTENOLOCAL, and
 * clones, which store what they fetch themselves).
 */
export class RemoteSource implements BlockSource {
  private readonly local: BlockStore;
  private readonly providers: Providers;
  private readonly cache: BlockCache;
  private readonly keepBelow: Id | undefined;

  constructor(local: BlockStore, providers: Providers, cache: BlockCache, keepBelow?: Id) {
    this.local = local;
    this.providers = providers;
    this.cache = cache;
    this.keepBelow = keepBelow;
  }

  async getBlock(id: Id): Promise<Uint8Array | undefined> {
    return (await this.getMany([{ kind: 'node', id }]))[0];
  }

  getBlocks(ids: Id[]): Promise<Array<Uint8Array | undefined>> {
    return this.getMany(ids.map((id) => ({ kind: 'node', id })));
  }

  async getBlob(id: Id): Promise<Uint8Array | undefined> {
    return (await this.getMany([{ kind: 'blob', id }]))[0];
  }

  async getMany(wants: Want[]): Promise<Array<Uint8Array | undefined>> {
    const local = await this.localBlocks(wants);
    const out = local.map((b, i) => b ?? this.cache.get(wants[i].kind, wants[i].id));
    const missing = wants.map((_, i) => i).filter((i) => out[i] === undefined);
    if (missing.length > 0) {
      const got = await this.providers.fetch(missing.map((i) => wants[i]));
      missing.forEach((i, k) => {
        const b = got[k]?.subarray();
        out[i] = b;
        if (b !== undefined) this.cache.set(wants[i].kind, wants[i].id, b);
      });
    }
    // Cached blocks count as fetched: an earlier REMOTENOLOCAL read may have brought them.
    const fetched = wants.map((_, i) => i).filter((i) => local[i] === undefined);
    if (this.keepBelow !== undefined && fetched.length > 0) await this.store(fetched.map((i) => wants[i]), fetched.map((i) => out[i]), this.keepBelow);
    return out;
  }

  /** Hashes were checked on arrival; a node the strict parser refuses is not stored (the reader refuses it too). */
  private async store(wants: Want[], got: Array<Uint8Array | undefined>, root: Id): Promise<void> {
    const blocks: Array<{ id: Id; bytes: Uint8Array }> = [];
    const blobs: Array<{ id: Id; bytes: Uint8Array }> = [];
    wants.forEach((w, k) => {
      const bytes = got[k];
      if (bytes === undefined || (w.kind === 'node' && idEquals(w.id, root))) return;
      if (w.kind === 'blob') {
        blobs.push({ id: w.id, bytes });
        return;
      }
      try {
        TreeNode.parse(Buffer.from(w.id), bytes);
        blocks.push({ id: w.id, bytes });
      } catch {
        // Left out: the tree reader raises the error for it.
      }
    });
    if (blocks.length > 0 || blobs.length > 0) await this.local.commit({ blocks, blobs });
  }

  /** The local copies of `wants`: nodes in one batched read, blobs each from its segment. */
  async localBlocks(wants: Want[]): Promise<Array<Uint8Array | undefined>> {
    const nodes = wants.filter((w) => w.kind === 'node');
    const found = nodes.length === 0 ? [] : await this.local.getBlocks(nodes.map((w) => w.id));
    let n = 0;
    return Promise.all(wants.map((w) => (w.kind === 'node' ? found[n++] : this.local.getBlob(w.id))));
  }

  /**
   * For a clone: each block from the local store if it is there, else from the cache or the
   * providers (as the pieces it arrived in); `fetched` says which must be stored. Fetched
   * blocks skip the cache: the clone stores them itself, and a cache full of a clone's blobs
   * only holds memory.
   */
  async gather(wants: Want[]): Promise<Array<{ block: Uint8ArrayList | undefined; fetched: boolean }>> {
    const local = await this.localBlocks(wants);
    const out = local.map((bytes, i) => {
      const b = bytes ?? this.cache.get(wants[i].kind, wants[i].id);
      return { block: b === undefined ? undefined : new Uint8ArrayList(b), fetched: bytes === undefined };
    });
    const missing = wants.map((_, i) => i).filter((i) => out[i].block === undefined);
    if (missing.length > 0) {
      const got = await this.providers.fetch(missing.map((i) => wants[i]));
      missing.forEach((i, k) => (out[i].block = got[k]));
    }
    return out;
  }
}

export interface CloneReport {
  blocks: number;
  fetched: number;
  bytes: number;
}

export interface CloneOptions {
  /**
   * Pin only once every block is stored, so a clone that fails or is aborted leaves nothing
   * pinned. Meanwhile the root is handed to the collector as a fresh root every second, so
   * what landed is spared while the clone runs (a round can outlast the grace period) and freed
   * by the first collection after the grace period once it stopped. Without it the root is
   * pinned first, so a collection mid-clone keeps what landed and an interrupted clone resumes.
   */
  pinLast?: boolean;
  /** Checked between rounds; the providers' own signal ends a round at once. */
  signal?: AbortSignal;
}

/** A round of a clone: its wants, and their blocks on the way. */
interface Round {
  wants: Want[];
  got: Promise<Array<{ block: Uint8ArrayList | undefined; fetched: boolean }>>;
}

/**
 * A clone: every block the root reaches, links included, level by level in rounds, stored as
 * it arrives. What is already local is read, not fetched, so an interrupted clone resumes.
 * Two rounds are in flight whenever the frontier allows (the next one's want-lists reach the
 * providers while this one's blocks arrive), and a round's commit runs while the next ones are
 * fetched. `until`: the pin's expiry (epoch ms, FOREVER), or null for none.
 */
export async function clone(store: BlockStore, source: RemoteSource, root: Id, until: number | null, opts: CloneOptions = {}): Promise<CloneReport> {
  const report: CloneReport = { blocks: 0, fetched: 0, bytes: 0 };
  const seen = new Set<string>([`node:${idKey(root)}`]);
  let frontier: Want[] = [{ kind: 'node', id: root }];
  let pinned = false;
  const renew = opts.pinLast === true ? setInterval(() => void store.commit({ fresh: [root] }).catch(() => undefined), FRESH_EVERY_MS) : undefined;
  const start = (): Round => {
    const take = roundSize(frontier);
    const wants = frontier.slice(0, take);
    frontier = frontier.slice(take);
    const got = source.gather(wants);
    // Awaited in turn; a round failing first must not leave the next one's rejection unhandled.
    got.catch(() => undefined);
    return { wants, got };
  };
  try {
    // Every round consumes the frontier; each block enters it once (seen), so rounds end.
    // Commits land in round order (the store takes them in turn); while one syncs, the next
    // round's joins the store's queue and shares the following sync.
    const storing: Array<Promise<void>> = [];
    let next: Round | undefined = start();
    while (next !== undefined) {
      opts.signal?.throwIfAborted();
      const round: Round = next;
      next = frontier.length > 0 ? start() : undefined;
      const got = await round.got;
      const blocks: Array<{ id: Id; bytes: Uint8Array }> = [];
      const blobs: Array<{ id: Id; bytes: Uint8Array[] }> = [];
      round.wants.forEach((w, i) => {
        const { block, fetched } = got[i];
        if (block === undefined) throw new CrissError('MISSINGBLOCK', `no provider has block ${idToText(w.id)} of ${idToText(root)}`);
        // A node is small, and parsed whole; a blob stays in pieces down to the segment file.
        const bytes = w.kind === 'node' ? block.subarray() : block;
        // Parsed once: the strict check before storing, and the children to fetch next.
        const node = bytes instanceof Uint8Array ? TreeNode.parse(Buffer.from(w.id), bytes) : undefined;
        if (fetched) {
          // Hashes were checked on arrival, and nodes have passed the strict parser above.
          if (bytes instanceof Uint8Array) blocks.push({ id: w.id, bytes });
          else blobs.push({ id: w.id, bytes: [...bytes] });
          report.fetched++;
          report.bytes += bytes.byteLength;
        }
        report.blocks++;
        for (const r of node !== undefined ? reachedFromNode(node) : reachedFrom(w.kind, bytes, w.id)) {
          const key = `${r.kind}:${idKey(r.id)}`;
          if (seen.has(key)) continue;
          seen.add(key);
          frontier.push(r);
        }
      });
      next ??= frontier.length > 0 ? start() : undefined;
      const last = next === undefined;
      const pins: Array<{ root: Id; until: number }> = !pinned && until !== null && (opts.pinLast !== true || last) ? [{ root, until }] : [];
      const fresh = opts.pinLast === true && pins.length === 0 ? [root] : [];
      while (storing.length >= COMMITS_AHEAD) await storing.shift();
      if (blocks.length > 0 || blobs.length > 0 || pins.length > 0) {
        const commit = store.commit({ blocks, blobs, pins, fresh, since: store.sweepsDone });
        // Awaited later or at the end; a fetch failing first must not leave it unhandled.
        commit.catch(() => undefined);
        storing.push(commit);
      }
      pinned ||= pins.length > 0;
    }
    for (const commit of storing) await commit;
  } finally {
    clearInterval(renew);
  }
  return report;
}
