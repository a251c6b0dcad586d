import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { type KeyPair, sha256 } from './identity.ts';
import type { Keys } from './keys.ts';
import { AllowList } from './tunnel-allow.ts';
import { type ListenerInit, TunnelListener } from './tunnel-open.ts';
import type { TunnelService, TunnelServiceInit } from './tunnel-service.ts';

export interface TunnelsOptions {
  dataDir: string;
  /** The keys dir, kept current by its watcher: a key file removed stops proving its Name. */
  keys: Pick<Keys, 'find'>;
  env: Record<string, string | undefined>;
  logger: Logger;
}

export const DEFAULT_CLIENT_CONNECTIONS = 256;

/**
 * Everything tunnel-related a daemon keeps across its cluster nodes: the allow-list and
 * announced Names (server side), the key pairs they are proved with, the TUNNEL_TOKEN that
 * guards changes, and the local listeners of the tunnels it opened (client side).
 */
export class Tunnels {
  readonly allow: AllowList;
  private readonly keys: Pick<Keys, 'find'>;
  private readonly token: Buffer | undefined;
  private readonly logger: Logger;
  private readonly listeners = new Map<number, TunnelListener>();

  private constructor(allow: AllowList, opts: TunnelsOptions) {
    this.allow = allow;
    this.keys = opts.keys;
    const t = opts.env.TUNNEL_TOKEN;
    this.token = t === undefined || t === '' ? undefined : sha256(Buffer.from(t, 'utf8'));
    this.logger = opts.logger;
  }

  static async open(opts: TunnelsOptions): Promise<Tunnels> {
    return new Tunnels(await AllowList.open(opts.dataDir), opts);
  }

  /** Throws NOPERM unless TUNNEL_TOKEN is set and `token` is it (compared in constant time). */
  checkToken(token: Uint8Array): void {
    if (this.token === undefined) throw new CrissError('NOPERM', 'tunnels are not served here: start the daemon with TUNNEL_TOKEN set');
    if (!timingSafeEqual(sha256(token), this.token)) throw new CrissError('NOPERM', 'wrong tunnel token');
  }

  /** A key pair of the keys dir by Name; a file holding only a public key proves nothing. */
  async keyOf(name: string): Promise<KeyPair | undefined> {
    const e = await this.keys.find(name);
    return e?.privateKey === undefined ? undefined : { publicKey: e.publicKey, privateKey: e.privateKey };
  }

  async requireKey(name: string): Promise<KeyPair> {
    const kp = await this.keyOf(name);
    if (kp === undefined) throw new CrissError('NOKEY', `no key pair named ${name.slice(0, 64)} in the keys dir`);
    return kp;
  }

  serviceInit(cluster: string): TunnelServiceInit {
    return { cluster, allow: this.allow, keyOf: (n) => this.keyOf(n), logger: this.logger.child({ cluster }) };
  }

  async open(init: Omit<ListenerInit, 'logger' | 'maxConnections'> & { maxConnections?: number }): Promise<TunnelListener> {
    if (this.listeners.has(init.localPort)) throw new CrissError('ERR', `a tunnel already listens on local port ${init.localPort}`);
    const { cluster, name, host, port } = init;
    await init.service().connect(name, init.passphrase, host, port, 'check', AbortSignal.timeout(30_000));
    const l = await TunnelListener.listen({ ...init, logger: this.logger, maxConnections: init.maxConnections ?? DEFAULT_CLIENT_CONNECTIONS });
    this.listeners.set(init.localPort, l);
    this.logger.info({ cluster, name, target: `${host}:${port}`, localPort: init.localPort }, 'tunnel opened');
    return l;
  }

  async close(localPort: number): Promise<boolean> {
    const l = this.listeners.get(localPort);
    if (l === undefined) return false;
    this.listeners.delete(localPort);
    await l.close();
    this.logger.info({ localPort }, 'tunnel closed');
    return true;
  }

  listening(): TunnelListener[] {
    return [...this.listeners.values()];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((p) => this.close(p)));
  }

  info(services: TunnelService[]): Array<[string, string | number]> {
    const ls = [...this.listeners.values()];
    const sum = (xs: Array<TunnelListener | TunnelService>, k: keyof TunnelListener['counters']): number => xs.reduce((n, x) => n + x.counters[k], 0);
    return [
      ['tunnels_open', ls.length],
      ['tunnel_connections', sum(ls, 'active')],
      ['tunnel_connections_total', sum(ls, 'total')],
      ['tunnel_refused', sum(ls, 'refused')],
      ['tunnel_bytes_sent', sum(ls, 'sent')],
      ['tunnel_bytes_received', sum(ls, 'received')],
      ['tunnels_announced', this.allow.allAnnounced().length],
      ['tunnels_allowed', this.allow.list().length],
      ['served_connections', sum(services, 'active')],
      ['served_connections_total', sum(services, 'total')],
      ['served_refused', sum(services, 'refused')],
      ['served_bytes_sent', sum(services, 'sent')],
      ['served_bytes_received', sum(services, 'received')],
      ...ls.map((l): [string, string] => [
        `tunnel_${l.localPort}`,
        `cluster=${l.target.cluster},name=${l.target.name},target=${l.target.host}:${l.target.port},connections=${l.counters.active},total=${l.counters.total},refused=${l.counters.refused},bytes_sent=${l.counters.sent},bytes_received=${l.counters.received}`,
      ]),
    ];
  }
}
