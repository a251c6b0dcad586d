import { isIPv6 } from 'node:net';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { identify, type Identify } from '@libp2p/identify';
import type { PeerId, ServiceMap } from '@libp2p/interface';
import { type KadDHT, type Selectors, type Validators, kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { noise } from '@libp2p/noise';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import { type Libp2p, createLibp2p } from 'libp2p';
import type { Logger } from 'pino';
import { type Cluster, clusterPsk, dhtProtocol } from './cluster-file.ts';
import { peerSeed } from './identity.ts';
import { clusterProtector } from './protector.ts';

export interface BaseServices {
  dht: KadDHT;
  ping: Ping;
  identify: Identify;
}

/** A service factory in js-libp2p style: given the node's components, it returns the service. */
export type ServiceFactories<S extends ServiceMap> = { [K in keyof S]: (components: never) => S[K] };

export interface ClusterNodeInit<S extends ServiceMap> {
  cluster: Cluster;
  nodeSecret: Uint8Array;
  host: string;
  /** 0: the OS picks one (read it back with `port`). */
  port: number;
  logger: Logger;
  /** Protocols of ours on top (the block exchange), each built from the node's components. */
  services?: ServiceFactories<S>;
  /** Record namespaces of ours on the DHT (signed pointers). */
  records?: { validators: Validators; selectors: Selectors };
  /** How often to redial Bootstrap entries while no peer is connected. */
  bootstrapIntervalMs?: number;
}

const DIAL_TIMEOUT_MS = 5000;

/**
 * One libp2p node for one cluster: its own peer identity (docs/format.md §15), TCP on its own
 * port, the cluster's connection protector, Noise, Yamux, and Kademlia on the cluster's own
 * protocol id. Bootstrap entries are dialled at start and again whenever the node is alone.
 */
export class ClusterNode<S extends ServiceMap = ServiceMap> {
  readonly cluster: Cluster;
  readonly libp2p: Libp2p<BaseServices & S>;
  private readonly logger: Logger;
  private readonly bootstrapMs: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();

  private constructor(cluster: Cluster, libp2p: Libp2p<BaseServices & S>, logger: Logger, bootstrapMs: number) {
    this.cluster = cluster;
    this.libp2p = libp2p;
    this.logger = logger;
    this.bootstrapMs = bootstrapMs;
  }

  /** Creates and starts the node; it listens once this resolves. */
  static async start<S extends ServiceMap = ServiceMap>(init: ClusterNodeInit<S>): Promise<ClusterNode<S>> {
    const c = init.cluster;
    const privateKey = await generateKeyPairFromSeed('Ed25519', peerSeed(init.nodeSecret, c.cypher, c.publicKey));
    const ip = isIPv6(init.host) ? 'ip6' : 'ip4';
    const services = {
      ...(init.services ?? {}),
      identify: identify(),
      ping: ping(),
      // Both settings together, or a loopback/LAN table stays empty (environment notes).
      dht: kadDHT({ protocol: dhtProtocol(c.cypher), clientMode: false, peerInfoMapper: passthroughMapper, allowQueryWithZeroPeers: true, ...init.records }),
    };
    const libp2p = (await createLibp2p({
      privateKey,
      addresses: { listen: [`/${ip}/${init.host}/tcp/${init.port}`] },
      transports: [tcp()],
      connectionProtector: clusterProtector(clusterPsk(c.cypher)),
      connectionEncrypters: [noise()],
      // A smaller window keeps a fast sender from overrunning the reader's buffer (environment notes).
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 2 * 1024 * 1024 } })],
      connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] },
      services,
    })) as unknown as Libp2p<BaseServices & S>;
    const node = new ClusterNode(c, libp2p, init.logger.child({ cluster: c.name, peer: libp2p.peerId.toString() }), init.bootstrapIntervalMs ?? 10_000);
    node.logger.info({ listen: node.multiaddrs() }, 'cluster node listening');
    node.libp2p.addEventListener('peer:connect', (e) => node.logger.info({ remote: e.detail.toString() }, 'peer connected'));
    node.libp2p.addEventListener('peer:disconnect', (e) => node.logger.info({ remote: e.detail.toString() }, 'peer disconnected'));
    void node.bootstrap();
    node.timer = setInterval(() => {
      if (node.libp2p.getConnections().length === 0) void node.bootstrap();
    }, node.bootstrapMs);
    node.timer.unref();
    return node;
  }

  get peerId(): PeerId {
    return this.libp2p.peerId;
  }

  /** The TCP port it listens on. */
  get port(): number {
    const tcpAddr = this.libp2p.getMultiaddrs()[0];
    return tcpAddr === undefined ? 0 : Number(tcpAddr.getComponents().find((p) => p.name === 'tcp')?.value ?? 0);
  }

  /** Listen addresses with `/p2p/<peer id>`: what other members put under Bootstrap. */
  multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((a) => a.toString());
  }

  /** Dials every Bootstrap entry that is not this node, each bounded in time. */
  async bootstrap(): Promise<void> {
    const self = this.peerId.toString();
    await Promise.all(this.cluster.bootstrap.filter((a) => !a.endsWith(`/p2p/${self}`)).map(async (a) => {
      try {
        await this.libp2p.dial(multiaddr(a), { signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) });
      } catch (err) {
        if (!this.stopping.signal.aborted) this.logger.info({ addr: a, err: (err as Error).message }, 'bootstrap peer unreachable');
      }
    }));
  }

  routingTableSize(): number {
    const dht = this.libp2p.services.dht as KadDHT & { routingTable?: { size: number } };
    return dht.routingTable?.size ?? 0;
  }

  info(): string {
    const peers = new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString())).size;
    return `listen=${this.multiaddrs().join('|')},peers=${peers},routing_table=${this.routingTableSize()}`;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.libp2p.stop();
  }
}
