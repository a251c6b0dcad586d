import { readFile } from 'node:fs/promises';
import { JsonFile } from './json-file.ts';
import { join } from 'node:path';
import type { ServiceMap } from '@libp2p/interface';
import { EventTypes, MessageType, type Selectors, type Validators } from '@libp2p/kad-dht';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import type { Cluster } from './cluster-file.ts';
import { keyName, keyPairFromSeed } from './identity.ts';
import type { ClusterNode } from './node.ts';
import {
  POINTER_NAMESPACE, type PointerRecord, comparePointers, isExpired, parsePointer, pointerKey, signPointer, verifyPointer,
} from './pointer-record.ts';

const FILE = 'pointers.json';
/** Peers drop a stored record 48 h after receiving it: republish well within that. */
const REPUBLISH_MS = 60 * 60 * 1000;
const REPUBLISH_ON_CONNECT_MIN_MS = 30_000;
const QUERY_TIMEOUT_MS = 20_000;

export interface PointerSet {
  name: string;
  generation: number;
  /** Peers that confirmed storing it (0 while alone: it is republished as peers arrive). */
  peers: number;
}


/**
 * Signed pointers on each cluster's DHT: the validator and selector every node runs for the
 * pointer namespace, publishing (after looking up the generation the network holds) and
 * lookups. The records this node published are kept in the data dir, signed, so a restart
 * republishes them without the private key.
 */
export class Pointers {
  private readonly file: string;
  private readonly logger: Logger;
  /** Per cluster, per pointer name, the record this node published. */
  private own = new Map<string, Map<string, PointerRecord>>();
  /** Per cluster, per name, the best valid record this node has seen: what a stale put is refused against. */
  private readonly best = new Map<string, Map<string, PointerRecord>>();
  /** Per cluster, how to stop republishing its pointers. */
  private readonly attached = new Map<string, () => void>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly saved: JsonFile;

  constructor(dataDir: string, logger: Logger) {
    this.file = join(dataDir, FILE);
    this.saved = new JsonFile(this.file);
    this.logger = logger;
  }

  async load(): Promise<void> {
    let text: string | undefined;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === undefined) return;
    // A damaged file costs the republishing of what it held, never the daemon's start.
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      this.logger.warn({ file: this.file, err: (err as Error).message }, 'ignoring unreadable pointers file');
      return;
    }
    const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isMap(doc)) {
      this.logger.warn({ file: this.file }, 'ignoring a pointers file that is not a JSON object');
      return;
    }
    for (const [cluster, names] of Object.entries(doc)) {
      for (const [name, b64] of Object.entries(isMap(names) ? names : {})) {
        try {
          this.ownOf(cluster).set(name, parsePointer(Buffer.from(String(b64), 'base64')));
        } catch (err) {
          this.logger.warn({ cluster, pointer: name, err: (err as Error).message }, 'ignoring a bad record in the pointers file');
        }
      }
    }
  }

  /**
   * The DHT settings of a cluster's node. libp2p runs the validator on every record it
   * receives, stored (PUT_VALUE) or answered (GET_VALUE), but never runs the selector before
   * storing, so the validator itself refuses a record older than the best one seen.
   */
  dhtOptions(cluster: Cluster): { validators: Validators; selectors: Selectors } {
    const best = new Map<string, PointerRecord>();
    this.best.set(cluster.name, best);
    const validate = async (key: Uint8Array, value: Uint8Array): Promise<void> => {
      const now = Date.now();
      let r: PointerRecord;
      try {
        r = verifyPointer(cluster.name, key, value, now);
      } catch (err) {
        this.logger.info({ cluster: cluster.name, key: Buffer.from(key).toString('latin1').slice(0, 80), err: (err as Error).message }, 'pointer record refused');
        throw err;
      }
      const name = keyName(r.publicKey);
      const held = best.get(name);
      if (held !== undefined && !isExpired(held, now) && comparePointers(r, held) < 0) {
        // Routine while peers catch up, so not worth an info line.
        this.logger.debug({ cluster: cluster.name, pointer: name, generation: r.generation, held: held.generation }, 'older pointer record refused');
        throw new CrissError('BADRECORD', `pointer record of generation ${r.generation} is older than the one held (${held.generation})`);
      }
      if (held === undefined || isExpired(held, now) || comparePointers(r, held) > 0) best.set(name, r);
    };
    const select = (_key: Uint8Array, records: Uint8Array[]): number => {
      let at = 0;
      let top: PointerRecord | undefined;
      records.forEach((raw, i) => {
        let r: PointerRecord;
        try {
          r = parsePointer(raw);
        } catch {
          return;
        }
        if (top === undefined || comparePointers(r, top) > 0) [at, top] = [i, r];
      });
      return at;
    };
    return { validators: { [POINTER_NAMESPACE]: validate }, selectors: { [POINTER_NAMESPACE]: select } };
  }

  /** Starts republishing the node's own pointers: now, hourly, and as peers arrive. */
  attach<S extends ServiceMap>(node: ClusterNode<S>): void {
    const name = node.cluster.name;
    this.attached.get(name)?.();
    let last = 0;
    const stopping = new AbortController();
    const run = (): void => void this.republish(node, stopping.signal).catch((err: unknown) => {
      this.logger.warn({ cluster: name, err: (err as Error).message }, 'republishing pointers failed; retried later');
    });
    const onConnect = (): void => {
      if (Date.now() - last < REPUBLISH_ON_CONNECT_MIN_MS) return;
      last = Date.now();
      run();
    };
    node.libp2p.addEventListener('peer:connect', onConnect);
    const timer = setInterval(run, REPUBLISH_MS);
    timer.unref();
    this.attached.set(name, () => {
      clearInterval(timer);
      stopping.abort();
      node.libp2p.removeEventListener('peer:connect', onConnect);
    });
    run();
  }

  detach(cluster: string): void {
    this.attached.get(cluster)?.();
    this.attached.delete(cluster);
    this.best.delete(cluster);
  }

  stop(): void {
    for (const c of [...this.attached.keys()]) this.detach(c);
  }

  /**
   * Publishes `value` under the key pair's name at the generation after the newest one the
   * network or this node holds (0 for a new name), valid for `ttlMs` (-1: no expiry).
   * Sets of one name on this node run one at a time, so each gets its own generation.
   */
  set<S extends ServiceMap>(node: ClusterNode<S>, seed: Uint8Array, value: Uint8Array, ttlMs: number): Promise<PointerSet> {
    const name = keyName(keyPairFromSeed(seed).publicKey);
    const lockKey = `${node.cluster.name}/${name}`;
    const run = (this.locks.get(lockKey) ?? Promise.resolve()).catch(() => undefined).then(async (): Promise<PointerSet> => {
      const current = await this.newest(node, name);
      const generation = current === undefined ? 0 : current.generation + 1;
      const r = signPointer(node.cluster.name, seed, generation, ttlMs === -1 ? 0 : Date.now() + ttlMs, value);
      this.bestOf(node.cluster.name).set(name, r);
      this.ownOf(node.cluster.name).set(name, r);
      await this.save();
      const peers = await this.put(node, name, r, AbortSignal.timeout(QUERY_TIMEOUT_MS));
      this.logger.info({ cluster: node.cluster.name, pointer: name, generation, peers }, 'pointer published');
      return { name, generation, peers };
    });
    this.locks.set(lockKey, run);
    void run.finally(() => {
      if (this.locks.get(lockKey) === run) this.locks.delete(lockKey);
    }).catch(() => undefined);
    return run;
  }

  /** The newest valid record of `name` the cluster holds, if its generation is at least `minGeneration`. */
  async lookup<S extends ServiceMap>(node: ClusterNode<S>, name: string, minGeneration: number): Promise<PointerRecord | undefined> {
    const r = await this.newest(node, name);
    return r !== undefined && r.generation >= minGeneration ? r : undefined;
  }

  /**
   * Every record the DHT query meets is verified here again (the library only checked it
   * against the validator), and the best one wins. What peers answered is kept even if the
   * query fails afterwards: libp2p ends a get with a throw when a stale peer refuses its
   * correction, after it has seen the answer.
   */
  private async newest<S extends ServiceMap>(node: ClusterNode<S>, name: string): Promise<PointerRecord | undefined> {
    const cluster = node.cluster.name;
    const key = pointerKey(name);
    let top: PointerRecord | undefined;
    const consider = (raw: Uint8Array | undefined): void => {
      if (raw === undefined) return;
      try {
        const r = verifyPointer(cluster, key, raw, Date.now());
        if (top === undefined || comparePointers(r, top) > 0) top = r;
      } catch {
        // A record that fails verification never wins.
      }
    };
    consider(this.own.get(cluster)?.get(name)?.bytes);
    const signal = AbortSignal.timeout(QUERY_TIMEOUT_MS);
    try {
      for await (const e of node.libp2p.services.dht.get(key, { signal })) {
        if (e.type === EventTypes.VALUE) consider(e.value);
        else if (e.type === EventTypes.PEER_RESPONSE) consider(e.record?.value);
      }
    } catch (err) {
      if (top === undefined && !signal.aborted) throw new CrissError('ERR', `pointer lookup failed: ${(err as Error).message}`);
    }
    return top;
  }

  /** Stores the record on the closest peers; the count is of peers that answered with it. */
  private async put<S extends ServiceMap>(node: ClusterNode<S>, name: string, r: PointerRecord, signal: AbortSignal): Promise<number> {
    const stored = new Set<string>();
    try {
      for await (const e of node.libp2p.services.dht.put(pointerKey(name), r.bytes, { signal })) {
        if (e.type === EventTypes.PEER_RESPONSE && e.messageType === MessageType.PUT_VALUE && e.record !== undefined && Buffer.from(e.record.value).equals(r.bytes)) {
          stored.add(e.from.toString());
        }
      }
    } catch (err) {
      this.logger.info({ cluster: node.cluster.name, pointer: name, err: (err as Error).message }, 'pointer put incomplete; republished later');
    }
    return stored.size;
  }

  private async republish<S extends ServiceMap>(node: ClusterNode<S>, signal: AbortSignal): Promise<void> {
    const cluster = node.cluster.name;
    const mine = this.own.get(cluster);
    if (mine === undefined) return;
    const now = Date.now();
    let dropped = false;
    for (const [name, r] of mine) {
      const held = this.best.get(cluster)?.get(name);
      // Superseded: another holder of the key published a newer generation.
      if (!isExpired(r, now) && (held === undefined || comparePointers(r, held) >= 0)) continue;
      mine.delete(name);
      dropped = true;
    }
    if (dropped) await this.save();
    for (const [name, r] of mine) {
      if (signal.aborted) return;
      this.bestOf(cluster).set(name, r);
      const peers = await this.put(node, name, r, AbortSignal.any([signal, AbortSignal.timeout(QUERY_TIMEOUT_MS)]));
      this.logger.debug({ cluster, pointer: name, generation: r.generation, peers }, 'pointer republished');
    }
  }

  private bestOf(cluster: string): Map<string, PointerRecord> {
    let m = this.best.get(cluster);
    if (m === undefined) this.best.set(cluster, (m = new Map()));
    return m;
  }

  private ownOf(cluster: string): Map<string, PointerRecord> {
    let m = this.own.get(cluster);
    if (m === undefined) this.own.set(cluster, (m = new Map()));
    return m;
  }

  private save(): Promise<void> {
    const doc = Object.fromEntries([...this.own].map(([c, names]) => [c, Object.fromEntries([...names].map(([n, r]) => [n, r.bytes.toString('base64')]))]));
    return this.saved.save(doc);
  }
}
