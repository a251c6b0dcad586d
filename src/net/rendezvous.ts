import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Libp2p, PeerInfo, Stream } from '@libp2p/interface';
import type { KadDHT } from '@libp2p/kad-dht';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import type { Logger } from 'pino';
import type { Cluster } from './cluster-file.ts';
import { KEY_BYTES, framed } from './identity.ts';

/** docs/format.md §15, rendezvous. */
export const RENDEZVOUS_PROTOCOL = '/crisscross/rendezvous/1.0.0';
export const TAG_RENDEZVOUS = 'crisscross/rendezvous/v1';
export const TAG_RENDEZVOUS_SEAL = 'crisscross/rendezvous-seal/v1';
export const EPOCH_MS = 24 * 3600 * 1000;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const MAX_ANSWER = 4096;
const MAX_ADDRS = 16;
const SHA2_256 = 0x12;
const RAW = 0x55;
const TIMEOUT_MS = 10_000;
const PROVIDERS_PER_LOOKUP = 20;
const TICK_MS = 60_000;

export function epochOf(ms: number): number {
  return Math.floor(ms / EPOCH_MS);
}

function derive(tag: string, cypher: Uint8Array, epoch: number): Buffer {
  const e = Buffer.alloc(8);
  e.writeBigUInt64BE(BigInt(epoch));
  return Buffer.from(hkdfSync('sha256', cypher, Buffer.alloc(0), framed(tag, e), KEY_BYTES));
}

/** The overlay key members of a cluster meet under during one epoch (a UTC day): without the Cypher it names nothing. */
export function rendezvousKey(cypher: Uint8Array, epoch: number): Buffer {
  return derive(TAG_RENDEZVOUS, cypher, epoch);
}

/** The key is provided as if it were a sha2-256 digest, so the overlay DHT stores it like any root. */
export function rendezvousCid(key: Uint8Array): CID {
  return CID.createV1(RAW, Digest.create(SHA2_256, key));
}

/** A member's addresses, readable only with the Cypher: nonce, ChaCha20-Poly1305 ciphertext (AAD: the key), tag. */
export function sealAddrs(cypher: Uint8Array, epoch: number, addrs: string[]): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const plain = Buffer.from(JSON.stringify(addrs.slice(0, MAX_ADDRS)), 'utf8');
  const c = createCipheriv('chacha20-poly1305', derive(TAG_RENDEZVOUS_SEAL, cypher, epoch), nonce, { authTagLength: TAG_BYTES });
  c.setAAD(rendezvousKey(cypher, epoch), { plaintextLength: plain.length });
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

/** The addresses in a sealed answer, or undefined when it was not sealed with this Cypher and epoch. */
export function openAddrs(cypher: Uint8Array, epoch: number, sealed: Uint8Array): string[] | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES || sealed.length > MAX_ANSWER) return undefined;
  const s = Buffer.from(sealed);
  try {
    const d = createDecipheriv('chacha20-poly1305', derive(TAG_RENDEZVOUS_SEAL, cypher, epoch), s.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    d.setAAD(rendezvousKey(cypher, epoch), { plaintextLength: s.length - NONCE_BYTES - TAG_BYTES });
    d.setAuthTag(s.subarray(s.length - TAG_BYTES));
    const text = Buffer.concat([d.update(s.subarray(NONCE_BYTES, s.length - TAG_BYTES)), d.final()]).toString('utf8');
    const doc: unknown = JSON.parse(text);
    if (!Array.isArray(doc) || doc.length > MAX_ADDRS || !doc.every((a) => typeof a === 'string')) return undefined;
    return doc as string[];
  } catch {
    return undefined;
  }
}

/** A private cluster's running node, as the rendezvous sees it. */
export interface Member {
  readonly cluster: Cluster;
  readonly libp2p: Pick<Libp2p, 'dial' | 'getConnections' | 'peerId'>;
  multiaddrs(): string[];
}

export interface RendezvousInit {
  overlay: Libp2p<{ dht: KadDHT }>;
  /** The private clusters' nodes running right now. */
  members(): Member[];
  logger: Logger;
}

/**
 * Members of a private cluster meeting through the overlay: each provides its cluster's
 * rendezvous key of the current epoch on the overlay DHT; a member with no peer looks up the
 * keys of the current and the previous epoch, asks each provider for its sealed addresses
 * (RENDEZVOUS_PROTOCOL) and dials them on the private node. The overlay sees keys that change
 * daily and ciphertext, never a Name, a Cypher or a private address.
 */
export class Rendezvous {
  private readonly init: RendezvousInit;
  private readonly provided = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();

  constructor(init: RendezvousInit) {
    this.init = init;
  }

  async start(): Promise<void> {
    await this.init.overlay.handle(RENDEZVOUS_PROTOCOL, (stream) => this.answer(stream), { maxInboundStreams: 4, maxOutboundStreams: 4 });
    this.init.overlay.addEventListener('peer:connect', () => this.tick());
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.all(this.running.values());
  }

  /** A private node started or has no peer: provide and look up now (once at a time per cluster). */
  meet(m: Member): void {
    const name = m.cluster.name;
    if (this.running.has(name) || this.stopping.signal.aborted) return;
    const run = this.run(m).catch((err: unknown) => {
      this.init.logger.info({ cluster: name, err: (err as Error).message }, 'rendezvous failed; retried later');
    }).finally(() => this.running.delete(name));
    this.running.set(name, run);
  }

  /** A cluster this node left: stop providing its key, so the overlay stops seeing it here. */
  left(c: Cluster): void {
    const epoch = this.provided.get(c.name);
    this.provided.delete(c.name);
    if (epoch === undefined) return;
    this.cancel(rendezvousKey(c.cypher, epoch)).catch((err: unknown) => {
      this.init.logger.info({ cluster: c.name, err: (err as Error).message }, 'cannot cancel the rendezvous reprovide');
    });
  }

  private tick(): void {
    const epoch = epochOf(Date.now());
    for (const m of this.init.members()) {
      if (this.provided.get(m.cluster.name) !== epoch || m.libp2p.getConnections().length === 0) this.meet(m);
    }
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.stopping.signal, AbortSignal.timeout(TIMEOUT_MS)]);
  }

  private async run(m: Member): Promise<void> {
    const c = m.cluster;
    const epoch = epochOf(Date.now());
    const dht = this.init.overlay.contentRouting;
    const before = this.provided.get(c.name);
    if (before !== epoch) {
      try {
        await dht.provide(rendezvousCid(rendezvousKey(c.cypher, epoch)), { signal: this.signal() });
        // Provided while the overlay was empty reached no one: the next overlay peer triggers it again.
        if (this.init.overlay.getConnections().length > 0) {
          this.provided.set(c.name, epoch);
          if (before !== undefined) await this.cancel(rendezvousKey(c.cypher, before));
        }
      } catch (err) {
        // Not provided yet (no overlay peer answered): the next tick tries again; look up anyway.
        this.init.logger.info({ cluster: c.name, err: (err as Error).message }, 'rendezvous key not provided yet');
      }
    }
    if (m.libp2p.getConnections().length > 0) return;
    for (const e of [epoch, epoch - 1]) {
      const found = await this.lookup(rendezvousKey(c.cypher, e));
      await Promise.all(found.map((p) => this.ask(m, e, p)));
      this.init.logger.debug({ cluster: c.name, epoch: e, providers: found.length }, 'rendezvous lookup done');
    }
  }

  /** Up to PROVIDERS_PER_LOOKUP overlay providers of a key, this node excluded; a lookup that times out keeps what it found. */
  private async lookup(key: Buffer): Promise<PeerInfo[]> {
    const found: PeerInfo[] = [];
    const self = this.init.overlay.peerId.toString();
    try {
      for await (const p of this.init.overlay.contentRouting.findProviders(rendezvousCid(key), { signal: this.signal() })) {
        if (p.id.toString() !== self && !found.some((f) => f.id.equals(p.id))) found.push(p);
        if (found.length >= PROVIDERS_PER_LOOKUP) break;
      }
    } catch {
      // Timed out or aborted: what was found so far still counts.
    }
    return found;
  }

  private async cancel(key: Buffer): Promise<void> {
    await this.init.overlay.services.dht.cancelReprovide(rendezvousCid(key), { signal: this.signal() });
  }

  /** Asks one overlay provider for its sealed addresses and dials the ones that open. */
  private async ask(m: Member, epoch: number, p: PeerInfo): Promise<void> {
    const key = rendezvousKey(m.cluster.cypher, epoch);
    let sealed: Uint8Array;
    try {
      await this.init.overlay.peerStore.merge(p.id, { multiaddrs: p.multiaddrs });
      const stream = await this.init.overlay.dialProtocol(p.id, RENDEZVOUS_PROTOCOL, { signal: this.signal() });
      const lp = lpStream(stream, { maxDataLength: MAX_ANSWER });
      await lp.write(key, { signal: this.signal() });
      sealed = (await lp.read({ signal: this.signal() })).subarray();
      await stream.close({ signal: this.signal() });
    } catch (err) {
      this.init.logger.info({ cluster: m.cluster.name, remote: p.id.toString(), err: (err as Error).message }, 'rendezvous peer unreachable');
      return;
    }
    const addrs = openAddrs(m.cluster.cypher, epoch, sealed);
    if (addrs === undefined) return;
    const self = m.libp2p.peerId.toString();
    for (const a of addrs) {
      if (a.endsWith(`/p2p/${self}`)) continue;
      try {
        await m.libp2p.dial(multiaddr(a), { signal: this.signal() });
        this.init.logger.info({ cluster: m.cluster.name, addr: a }, 'met a member through the overlay');
        return;
      } catch (err) {
        this.init.logger.info({ cluster: m.cluster.name, addr: a, err: (err as Error).message }, 'member address from the overlay unreachable');
      }
    }
  }

  /** Answers a key with the sealed addresses of the member it belongs to, or an empty frame. */
  private async answer(stream: Stream): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: KEY_BYTES });
    try {
      const key = Buffer.from((await lp.read({ signal: AbortSignal.timeout(TIMEOUT_MS) })).subarray());
      const epoch = epochOf(Date.now());
      let out: Buffer = Buffer.alloc(0);
      for (const m of this.init.members()) {
        const e = [epoch, epoch - 1].find((x) => rendezvousKey(m.cluster.cypher, x).equals(key));
        if (e !== undefined) out = sealAddrs(m.cluster.cypher, e, m.multiaddrs());
      }
      await lp.write(out, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      await stream.close({ signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      stream.abort(err as Error);
    }
  }
}
