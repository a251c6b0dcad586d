import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import type { Id } from '../store/id.ts';
import { IdSet } from '../gc/idset.ts';
import { Announcements, addReachable, rootCid } from './announce.ts';
import { type BlockService, type BlockStoreReader, blockService } from './blocks.ts';
import { ClusterDir, type ClusterChanges } from './cluster-dir.ts';
import type { Cluster } from './cluster-file.ts';
import { loadNodeSecret } from './identity.ts';
import { type JobHandler, type JobService, jobService } from './job-service.ts';
import { JsonFile } from './json-file.ts';
import { Keys } from './keys.ts';
import { ClusterNode } from './node.ts';
import { clusterNameOf, isOverlay, overlayCluster } from './overlay.ts';
import { Rendezvous } from './rendezvous.ts';
import { Pointers } from './pointers.ts';
import { type PushReceiver, type PushService, pushService } from './push.ts';

import { type TunnelService, tunnelService } from './tunnel-service.ts';
import { Tunnels } from './tunnels.ts';

import { type PubsubService, pubsubService } from './pubsub.ts';
import { type StreamService, streamService } from './streams.ts';
import type { StreamHub } from '../pubsub/stream.ts';

export type Services = { blocks: BlockService; push: PushService; tunnels: TunnelService; pubsub: PubsubService; streams: StreamService; jobs: JobService };
export type Node = ClusterNode<Services>;

export interface NetworkOptions {
  dataDir: string;
  clustersDir: string;
  keysDir: string;
  logger: Logger;
  p2pHost: string;
  /** The default overlay's port (0: chosen once, then kept). */
  p2pPort: number;
  /** Whether to run the default overlay, and whom it dials at start. */
  overlay: boolean;
  bootstrap: string[];
  /** Bytes per second the block exchange sends any one peer (0 or absent: unlimited). */
  serveRate?: number;
  env?: Record<string, string | undefined>;
  rescanMs?: number;
  /** What the block exchange serves from. */
  store: BlockStoreReader;
  /** What stores admitted pushes; absent, this node refuses them. */
  pushHost?: (net: Network) => PushReceiver;
  /** Where cluster-wide PUBLISH delivers on this node, and the streams its workers serve. */
  pubsub: { deliver(channel: Uint8Array, payload: Uint8Array): void; hub: StreamHub };
  /** Where job calls from members go; absent, every call is refused. */
  jobs?: JobHandler;
}

const PORTS_FILE = 'p2p-ports.json';
const NO_JOBS: JobHandler = { handle: () => Promise.reject(new CrissError('NOSERVICE', 'this node serves no jobs')) };
const PROVIDE_TIMEOUT_MS = 30_000;
const EXPIRE_EVERY_MS = 60_000;
const REPROVIDE_MIN_MS = 30_000;

/**
 * The clusters this node is a member of, as the clusters dir defines them right now, each with
 * its running libp2p node. A cluster without a Port listens where it listened last time
 * (kept in the data dir), so the multiaddr other members bootstrap from stays valid.
 */
export class Network {
  readonly nodeSecret: Buffer;
  /** The keys dir's key pairs by Name, for whatever signs or verifies (pointers, jobs, tunnels). */
  readonly keys: Keys;
  readonly pointers: Pointers;
  readonly tunnels: Tunnels;
  private readonly opts: NetworkOptions;
  private readonly dir: ClusterDir;
  private readonly nodes = new Map<string, Node>();
  private readonly announcements: Announcements;
  private readonly pushReceiver: PushReceiver | undefined;
  /** Per cluster, every block its live announcements reach: all the block exchange serves. */
  private readonly served = new Map<string, IdSet>();
  private ports: Record<string, number> = {};
  private readonly portsFile: JsonFile;
  private rendezvous: Rendezvous | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(nodeSecret: Buffer, announcements: Announcements, keys: Keys, tunnels: Tunnels, opts: NetworkOptions) {
    this.nodeSecret = nodeSecret;
    this.tunnels = tunnels;
    this.announcements = announcements;
    this.opts = opts;
    this.keys = keys;
    this.portsFile = new JsonFile(join(opts.dataDir, PORTS_FILE));
    this.pointers = new Pointers(opts.dataDir, opts.logger);
    this.pushReceiver = opts.pushHost?.(this);
    this.dir = new ClusterDir({ dir: opts.clustersDir, logger: opts.logger, onChange: (c) => this.changed(c), ...(opts.rescanMs !== undefined ? { rescanMs: opts.rescanMs } : {}) });
  }

  static async start(opts: NetworkOptions): Promise<Network> {
    const keys = new Keys({ dir: opts.keysDir, logger: opts.logger, ...(opts.rescanMs !== undefined ? { rescanMs: opts.rescanMs } : {}) });
    const tunnels = await Tunnels.open({ dataDir: opts.dataDir, keys, env: opts.env ?? process.env, logger: opts.logger.child({ module: 'tunnels' }) });
    const net = new Network(await loadNodeSecret(opts.dataDir, opts.env), await Announcements.open(opts.dataDir), keys, tunnels, opts);
    try {
      net.ports = JSON.parse(await readFile(net.portsFile.path, 'utf8')) as Record<string, number>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') opts.logger.warn({ err: e }, `ignoring unreadable ${PORTS_FILE}`);
    }
    await net.keys.start();
    if (opts.overlay) await net.startOverlay();
    await net.pointers.load();
    await net.dir.start();
    net.timer = setInterval(() => void net.expire(), EXPIRE_EVERY_MS);
    net.timer.unref();
    return net;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.tunnels.stop();
    await this.dir.stop();
    await this.keys.stop();
    await this.rendezvous?.stop();
    this.pointers.stop();
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    this.nodes.clear();
  }

  /** The overlay first, so its node listens and dials before private clusters look for each other through it. */
  private async startOverlay(): Promise<void> {
    const c = overlayCluster(this.opts.bootstrap, this.opts.p2pPort);
    let node: Node;
    try {
      node = await this.startNode(c);
    } catch (err) {
      this.opts.logger.error({ port: this.opts.p2pPort, err: (err as Error).message }, 'cannot start the default overlay; running without it');
      return;
    }
    this.nodes.set(c.name, node);
    this.rendezvous = new Rendezvous({
      overlay: node.libp2p,
      members: () => [...this.nodes.values()].filter((n) => !isOverlay(n.cluster)),
      logger: this.opts.logger.child({ module: 'rendezvous' }),
    });
    await this.rendezvous.start();
  }

  /** A cluster argument (a Name or `^defaultcluster`) → the Name. */
  resolve(arg: string): string {
    return clusterNameOf(arg, this.opts.overlay);
  }

  clusters(): Cluster[] {
    return this.dir.list();
  }

  /** The running node of a cluster, by Name; NOCLUSTER when no loaded file defines it. */
  node(name: string): Node {
    const n = this.nodes.get(this.resolve(name));
    if (n === undefined) throw new CrissError('NOCLUSTER', `no cluster named ${name.slice(0, 64)} is running: is its file in the clusters dir?`);
    return n;
  }

  private async changed(changes: ClusterChanges): Promise<void> {
    for (const c of changes.removed) {
      if (isOverlay(c)) continue;
      const n = this.nodes.get(c.name);
      this.nodes.delete(c.name);
      this.rendezvous?.left(c);
      this.pointers.detach(c.name);
      await n?.stop();
      this.opts.logger.info({ cluster: c.name }, 'cluster left');
    }
    for (const c of changes.added) {
      if (isOverlay(c)) {
        this.opts.logger.warn({ cluster: c.name }, 'a cluster file defines the default overlay, which is built in; skipped');
        continue;
      }
      try {
        const node = await this.startNode(c);
        this.nodes.set(c.name, node);
        this.rendezvous?.meet(node);
      } catch (err) {
        this.opts.logger.error({ cluster: c.name, err: (err as Error).message }, 'cannot start the cluster node; skipped');
      }
    }
  }

  /** Provides `root` on the cluster's DHT until `until` (epoch ms), after a restart too. */
  async announce(cluster: string, root: Id, until: number): Promise<void> {
    const node = this.node(cluster);
    await this.announcements.add(cluster, root, until);
    await addReachable(this.opts.store, root, this.servedSet(cluster));
    await this.provide(node, root);
  }

  hasAnnounced(cluster: string, root: Id): boolean {
    this.node(cluster);
    return this.announcements.has(cluster, root);
  }

  /** Up to `max` peers that provide `root`, this node excluded, in the order the DHT finds them. */
  async providers(cluster: string, root: Id, max: number, signal: AbortSignal): Promise<PeerId[]> {
    const node = this.node(cluster);
    const self = node.peerId.toString();
    const found = new Map<string, PeerId>();
    for await (const p of node.libp2p.contentRouting.findProviders(rootCid(root), { signal })) {
      if (p.id.toString() !== self) found.set(p.id.toString(), p.id);
      if (found.size >= max) break;
    }
    return [...found.values()];
  }

  private async provide(node: Node, root: Id): Promise<void> {
    // The DHT re-provides what it provided while it runs; `expire` stops that when the TTL ends.
    await node.libp2p.contentRouting.provide(rootCid(root), { signal: AbortSignal.timeout(PROVIDE_TIMEOUT_MS) });
  }

  private servedSet(cluster: string): IdSet {
    let set = this.served.get(cluster);
    if (set === undefined) this.served.set(cluster, (set = new IdSet()));
    return set;
  }

  /** Recomputes what a cluster serves from its live announcements (an IdSet only grows). */
  private async rebuildServed(cluster: string): Promise<void> {
    const set = new IdSet();
    for (const r of this.announcements.live(cluster)) await addReachable(this.opts.store, r, set);
    this.served.set(cluster, set);
  }

  private async expire(): Promise<void> {
    const expired = await this.announcements.expire();
    for (const cluster of new Set(expired.map((e) => e.cluster))) await this.rebuildServed(cluster);
    for (const { cluster, root } of expired) {
      const node = this.nodes.get(cluster);
      await node?.libp2p.services.dht.cancelReprovide(rootCid(root), { signal: AbortSignal.timeout(PROVIDE_TIMEOUT_MS) });
      this.opts.logger.info({ cluster, root: rootCid(root).toString() }, 'announcement expired');
    }
  }

  private async startNode(c: Cluster): Promise<Node> {
    const kept = this.ports[c.name];
    const port = c.port ?? kept ?? 0;
    const init = {
      cluster: c,
      nodeSecret: this.nodeSecret,
      host: this.opts.p2pHost,
      logger: this.opts.logger,
      records: this.pointers.dhtOptions(c),
      services: {
        blocks: blockService({
          store: this.opts.store, isServed: (id: Id) => this.served.get(c.name)?.has(id) === true, logger: this.opts.logger.child({ cluster: c.name }), serveRate: this.opts.serveRate ?? 0,
        }),
        push: pushService({ cluster: c, logger: this.opts.logger.child({ cluster: c.name }), ...(this.pushReceiver ? { receiver: this.pushReceiver } : {}) }),
        tunnels: tunnelService(this.tunnels.serviceInit(c.name)),
        pubsub: pubsubService({ deliver: this.opts.pubsub.deliver, logger: this.opts.logger.child({ cluster: c.name }) }),
        streams: streamService({ hub: this.opts.pubsub.hub, logger: this.opts.logger.child({ cluster: c.name }) }),
        jobs: jobService({ cluster: c.name, handler: this.opts.jobs ?? NO_JOBS, logger: this.opts.logger.child({ cluster: c.name }) }),
      },
    };
    let node: Node;
    try {
      node = await ClusterNode.start({ ...init, port });
    } catch (err) {
      // A kept or default port someone else took since: any port beats no membership.
      if (c.port !== undefined || port === 0) throw err;
      this.opts.logger.warn({ cluster: c.name, port, err: (err as Error).message }, 'port taken; listening on another');
      node = await ClusterNode.start({ ...init, port: 0 });
    }
    if (c.port === undefined && node.port !== kept) {
      this.ports[c.name] = node.port;
      await this.portsFile.save(this.ports);
    }
    await this.rebuildServed(c.name);
    this.reprovide(node);
    this.pointers.attach(node);
    for (const name of this.tunnels.allow.announcedIn(c.name)) void node.libp2p.services.tunnels.provide(name);
    // Announcements made while alone reached no one: provide again as peers arrive (at most every 30 s).
    let last = 0;
    node.libp2p.addEventListener('peer:connect', () => {
      if (Date.now() - last < REPROVIDE_MIN_MS) return;
      last = Date.now();
      this.reprovide(node);
    });
    return node;
  }

  private reprovide(node: Node): void {
    const c = node.cluster;
    const live = this.announcements.live(c.name);
    if (live.length === 0) return;
    this.opts.logger.info({ cluster: c.name, roots: live.length }, 'providing announced roots');
    void Promise.all(live.map((r) => this.provide(node, r).catch((err: unknown) => {
      this.opts.logger.info({ cluster: c.name, err: (err as Error).message }, 'providing failed; retried when a peer connects');
    })));
  }

  tunnelInfo(): Array<[string, string | number]> {
    return this.tunnels.info([...this.nodes.values()].map((n) => n.libp2p.services.tunnels));
  }

  info(): Array<[string, string | number]> {
    return [['clusters', this.nodes.size], ['keys', this.keys.list().length], ...[...this.nodes].map(([name, n]): [string, string] => {
      const b = n.libp2p.services.blocks;
      const moved = `announced=${this.announcements.live(name).length},blocks_served=${b.served},bytes_served=${b.servedBytes},blocks_fetched=${b.fetched},bytes_fetched=${b.fetchedBytes},fetches_in_flight=${b.fetching},serves_in_flight=${b.serving},serves_throttled=${b.throttled},pushes_accepted=${n.libp2p.services.push.accepted},pushes_refused=${n.libp2p.services.push.refused}`;
      return [name, `${n.info()},${moved},${n.libp2p.services.pubsub.info()},${n.libp2p.services.streams.info()}`];
    })];
  }
}
