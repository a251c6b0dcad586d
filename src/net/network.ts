import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceMap } from '@libp2p/interface';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { ClusterDir, type ClusterChanges } from './cluster-dir.ts';
import type { Cluster } from './cluster-file.ts';
import { loadNodeSecret } from './identity.ts';
import { ClusterNode, type ServiceFactories } from './node.ts';

export interface NetworkOptions<S extends ServiceMap> {
  dataDir: string;
  clustersDir: string;
  logger: Logger;
  p2pHost: string;
  p2pPort: number;
  env?: Record<string, string | undefined>;
  rescanMs?: number;
  /** The protocols of ours each cluster node runs (the block exchange). */
  services?: (cluster: Cluster) => ServiceFactories<S>;
}

const PORTS_FILE = 'p2p-ports.json';

/**
 * The clusters this node is a member of, as the clusters dir defines them right now, each with
 * its running libp2p node. A cluster without a Port listens where it listened last time
 * (kept in the data dir), so the multiaddr other members bootstrap from stays valid.
 */
export class Network<S extends ServiceMap = ServiceMap> {
  readonly nodeSecret: Buffer;
  private readonly opts: NetworkOptions<S>;
  private readonly dir: ClusterDir;
  private readonly nodes = new Map<string, ClusterNode<S>>();
  private ports: Record<string, number> = {};

  private constructor(nodeSecret: Buffer, opts: NetworkOptions<S>) {
    this.nodeSecret = nodeSecret;
    this.opts = opts;
    this.dir = new ClusterDir({ dir: opts.clustersDir, logger: opts.logger, onChange: (c) => this.changed(c), ...(opts.rescanMs !== undefined ? { rescanMs: opts.rescanMs } : {}) });
  }

  static async start<S extends ServiceMap = ServiceMap>(opts: NetworkOptions<S>): Promise<Network<S>> {
    const net = new Network<S>(await loadNodeSecret(opts.dataDir, opts.env), opts);
    try {
      net.ports = JSON.parse(await readFile(join(opts.dataDir, PORTS_FILE), 'utf8')) as Record<string, number>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') opts.logger.warn({ err: e }, `ignoring unreadable ${PORTS_FILE}`);
    }
    await net.dir.start();
    return net;
  }

  async stop(): Promise<void> {
    await this.dir.stop();
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    this.nodes.clear();
  }

  clusters(): Cluster[] {
    return this.dir.list();
  }

  /** The running node of a cluster, by Name; NOCLUSTER when no loaded file defines it. */
  node(name: string): ClusterNode<S> {
    const n = this.nodes.get(name);
    if (n === undefined) throw new CrissError('NOCLUSTER', `no cluster named ${name.slice(0, 64)} is running: is its file in the clusters dir?`);
    return n;
  }

  private async changed(changes: ClusterChanges): Promise<void> {
    for (const c of changes.removed) {
      const n = this.nodes.get(c.name);
      this.nodes.delete(c.name);
      await n?.stop();
      this.opts.logger.info({ cluster: c.name }, 'cluster left');
    }
    for (const c of changes.added) {
      try {
        this.nodes.set(c.name, await this.startNode(c));
      } catch (err) {
        this.opts.logger.error({ cluster: c.name, err: (err as Error).message }, 'cannot start the cluster node; skipped');
      }
    }
  }

  private async startNode(c: Cluster): Promise<ClusterNode<S>> {
    const kept = this.ports[c.name];
    const port = c.port ?? kept ?? this.opts.p2pPort;
    const init = {
      cluster: c,
      nodeSecret: this.nodeSecret,
      host: this.opts.p2pHost,
      logger: this.opts.logger,
      ...(this.opts.services !== undefined ? { services: this.opts.services(c) } : {}),
    };
    let node: ClusterNode<S>;
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
      const file = join(this.opts.dataDir, PORTS_FILE);
      await writeFile(`${file}.tmp`, JSON.stringify(this.ports));
      await rename(`${file}.tmp`, file);
    }
    return node;
  }

  info(): Array<[string, string | number]> {
    return [['clusters', this.nodes.size], ...[...this.nodes].map(([name, n]): [string, string] => [name, n.info()])];
  }
}
