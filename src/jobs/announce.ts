import { readFile } from 'node:fs/promises';
import { JsonFile } from '../net/json-file.ts';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { rootCid } from '../net/announce.ts';
import { framed } from '../net/identity.ts';
import type { Network, Node } from '../net/network.ts';
import { type Id, idOf } from '../store/id.ts';

const FILE = 'job-announcements.json';
export const TAG_JOB_SERVICE = 'crisscross/job-service/v1';
const PROVIDE_TIMEOUT_MS = 30_000;
const CHECK_EVERY_MS = 5_000;
const REPROVIDE_MIN_MS = 30_000;

/** The DHT key a service is provided under: a sha2-256 multihash, apart from every tree root. */
export function serviceKey(service: string): Id {
  return idOf(framed(TAG_JOB_SERVICE, Buffer.from(service, 'utf8')));
}

/**
 * The services this node provides, per cluster, with their expiries (epoch ms), kept in the
 * data dir. Each live one is provided on its cluster's DHT whenever that cluster's node is
 * (re)started and again as peers arrive; the DHT re-provides it while it runs.
 */
export class JobAnnouncements {
  private readonly file: string;
  private readonly net: Network;
  private readonly logger: Logger;
  private byCluster = new Map<string, Map<string, number>>();
  /** What each running node instance has been given to provide: a restarted node starts empty. */
  private readonly provided = new WeakMap<Node, Set<string>>();
  private readonly saved: JsonFile;
  private timer: NodeJS.Timeout | undefined;

  private constructor(dataDir: string, net: Network, logger: Logger) {
    this.file = join(dataDir, FILE);
    this.saved = new JsonFile(this.file);
    this.net = net;
    this.logger = logger;
  }

  static async open(dataDir: string, net: Network, logger: Logger): Promise<JobAnnouncements> {
    const a = new JobAnnouncements(dataDir, net, logger);
    try {
      const doc = JSON.parse(await readFile(a.file, 'utf8')) as Record<string, Record<string, number>>;
      for (const [cluster, services] of Object.entries(doc)) a.byCluster.set(cluster, new Map(Object.entries(services)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: e }, `ignoring unreadable ${FILE}`);
    }
    a.timer = setInterval(() => void a.check(), CHECK_EVERY_MS);
    a.timer.unref();
    void a.check();
    return a;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Every live (cluster, service, expiry). */
  live(now = Date.now()): Array<{ cluster: string; service: string; until: number }> {
    const out: Array<{ cluster: string; service: string; until: number }> = [];
    for (const [cluster, services] of this.byCluster) {
      for (const [service, until] of services) if (until > now) out.push({ cluster, service, until });
    }
    return out;
  }

  has(cluster: string, service: string, now = Date.now()): boolean {
    return (this.byCluster.get(cluster)?.get(service) ?? 0) > now;
  }

  /** Records the announcement (a later expiry extends an earlier one) and provides it now. */
  async add(cluster: string, service: string, until: number): Promise<void> {
    const node = this.net.node(cluster);
    let services = this.byCluster.get(cluster);
    if (services === undefined) this.byCluster.set(cluster, (services = new Map()));
    services.set(service, Math.max(until, services.get(service) ?? 0));
    await this.save();
    this.given(node).add(service);
    await this.provide(node, service);
  }

  private given(node: Node): Set<string> {
    let set = this.provided.get(node);
    if (set === undefined) {
      this.provided.set(node, (set = new Set()));
      let last = 0;
      // Provided while alone, a record reached no one: provide again as peers arrive.
      node.libp2p.addEventListener('peer:connect', () => {
        if (Date.now() - last < REPROVIDE_MIN_MS) return;
        last = Date.now();
        for (const s of this.live().filter((l) => l.cluster === node.cluster.name)) void this.provide(node, s.service).catch(() => undefined);
      });
    }
    return set;
  }

  private async provide(node: Node, service: string): Promise<void> {
    await node.libp2p.contentRouting.provide(rootCid(serviceKey(service)), { signal: AbortSignal.timeout(PROVIDE_TIMEOUT_MS) });
  }

  /** Provides what a (re)started node has not been given yet; drops and stops providing what expired. */
  private async check(now = Date.now()): Promise<void> {
    let changed = false;
    for (const [cluster, services] of this.byCluster) {
      let node: Node | undefined;
      try {
        node = this.net.node(cluster);
      } catch {
        node = undefined;
      }
      for (const [service, until] of services) {
        if (until <= now) {
          services.delete(service);
          changed = true;
          if (node !== undefined) {
            this.given(node).delete(service);
            await node.libp2p.services.dht.cancelReprovide(rootCid(serviceKey(service)), { signal: AbortSignal.timeout(PROVIDE_TIMEOUT_MS) }).catch(() => undefined);
          }
          this.logger.info({ cluster, service }, 'job service announcement expired');
          continue;
        }
        if (node === undefined) continue;
        const given = this.given(node);
        if (given.has(service)) continue;
        given.add(service);
        this.logger.info({ cluster, service }, 'providing job service');
        void this.provide(node, service).catch((err: unknown) => {
          this.logger.info({ cluster, service, err: (err as Error).message }, 'providing a job service failed; retried when a peer connects');
        });
      }
    }
    if (changed) await this.save();
  }

  private save(): Promise<void> {
    const doc = Object.fromEntries([...this.byCluster].map(([c, s]) => [c, Object.fromEntries(s)]));
    return this.saved.save(doc);
  }
}
