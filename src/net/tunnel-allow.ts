import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { JsonFile } from './json-file.ts';
import { join } from 'node:path';
import { promisify } from 'node:util';

const FILE = 'tunnels.json';
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** scrypt at N = 2^14, r = 8: ~50 ms a guess here; only a wrong passphrase pays it every time. */
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const DEFAULT_MAX_CONNECTIONS = 256;

const scryptAsync = promisify(scrypt) as (pass: string, salt: Buffer, len: number, opts: typeof SCRYPT) => Promise<Buffer>;

/** One allowed (cluster, key Name, host, port) with its hashed passphrase (docs/tunnel-protocol.md). */
export interface AllowEntry {
  cluster: string;
  name: string;
  host: string;
  port: number;
  maxConnections: number;
  salt: Buffer;
  hash: Buffer;
}

export type Verdict = { code: 'ok'; entry: AllowEntry } | { code: 'notallowed' } | { code: 'refused' };

interface Doc {
  announced: Array<{ cluster: string; name: string }>;
  allowed: Array<Omit<AllowEntry, 'salt' | 'hash'> & { salt: string; hash: string }>;
}

function entryKey(cluster: string, name: string, host: string, port: number): string {
  return `${cluster}\n${name}\n${host}\n${port}`;
}

/**
 * The tunnels this daemon serves: announced Names and allowed targets, kept in the data dir
 * (passphrases as salted scrypt hashes only), and the connections open through each entry, so
 * a limit holds and removing an entry cuts them.
 */
export class AllowList {
  private readonly file: string;
  private readonly entries = new Map<string, AllowEntry>();
  private readonly announced = new Map<string, { cluster: string; name: string }>();
  private readonly open = new Map<string, Set<() => void>>();
  /** A keyed hash of the last passphrase scrypt accepted per entry: later connections skip scrypt. */
  private readonly verified = new Map<string, Buffer>();
  private readonly cacheKey = randomBytes(32);
  private readonly saved: JsonFile;

  private constructor(dataDir: string) {
    this.file = join(dataDir, FILE);
    this.saved = new JsonFile(this.file, 0o600);
  }

  static async open(dataDir: string): Promise<AllowList> {
    const a = new AllowList(dataDir);
    let text: string | undefined;
    try {
      text = await readFile(a.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === undefined) return a;
    const doc = JSON.parse(text) as Doc;
    for (const t of doc.announced) a.announced.set(`${t.cluster}\n${t.name}`, t);
    for (const e of doc.allowed) {
      const entry = { ...e, salt: Buffer.from(e.salt, 'base64'), hash: Buffer.from(e.hash, 'base64') };
      a.entries.set(entryKey(e.cluster, e.name, e.host, e.port), entry);
    }
    return a;
  }

  async announce(cluster: string, name: string): Promise<void> {
    this.announced.set(`${cluster}\n${name}`, { cluster, name });
    await this.save();
  }

  announcedIn(cluster: string): string[] {
    return [...this.announced.values()].filter((t) => t.cluster === cluster).map((t) => t.name);
  }

  allAnnounced(): Array<{ cluster: string; name: string }> {
    return [...this.announced.values()];
  }

  /** Adds or replaces an entry (a new passphrase or limit); connections already open stay. */
  async allow(cluster: string, name: string, host: string, port: number, passphrase: string, maxConnections: number): Promise<void> {
    const salt = randomBytes(SALT_BYTES);
    const key = entryKey(cluster, name, host, port);
    this.entries.set(key, { cluster, name, host, port, maxConnections, salt, hash: await scryptAsync(passphrase, salt, HASH_BYTES, SCRYPT) });
    this.verified.delete(key);
    await this.save();
  }

  /** Removes an entry and cuts its open connections; false when there was none. */
  async disallow(cluster: string, name: string, host: string, port: number): Promise<boolean> {
    const key = entryKey(cluster, name, host, port);
    if (!this.entries.delete(key)) return false;
    this.verified.delete(key);
    for (const cut of this.open.get(key) ?? []) cut();
    this.open.delete(key);
    await this.save();
    return true;
  }

  list(): AllowEntry[] {
    return [...this.entries.values()];
  }

  connections(e: AllowEntry): number {
    return this.open.get(entryKey(e.cluster, e.name, e.host, e.port))?.size ?? 0;
  }

  /**
   * The entry for exactly this target if the passphrase is its own; `notallowed` if the passphrase
   * belongs to another entry of the Name (the client proved it knows one); `refused` otherwise.
   */
  async check(cluster: string, name: string, host: string, port: number, passphrase: string): Promise<Verdict> {
    const exact = this.entries.get(entryKey(cluster, name, host, port));
    if (exact !== undefined && (await this.matches(exact, passphrase))) return { code: 'ok', entry: exact };
    for (const e of this.entries.values()) {
      if (e !== exact && e.cluster === cluster && e.name === name && (await this.matches(e, passphrase))) return { code: 'notallowed' };
    }
    return { code: 'refused' };
  }

  /** Registers an open connection of the entry; undefined when the entry is at its limit or gone. */
  lease(e: AllowEntry, cut: () => void): (() => void) | undefined {
    const key = entryKey(e.cluster, e.name, e.host, e.port);
    if (this.entries.get(key) !== e) return undefined;
    let set = this.open.get(key);
    if (set === undefined) this.open.set(key, (set = new Set()));
    if (set.size >= e.maxConnections) return undefined;
    set.add(cut);
    return () => set.delete(cut);
  }

  private async matches(e: AllowEntry, passphrase: string): Promise<boolean> {
    const key = entryKey(e.cluster, e.name, e.host, e.port);
    const keyed = createHmac('sha256', this.cacheKey).update(passphrase, 'utf8').digest();
    const seen = this.verified.get(key);
    if (seen !== undefined && timingSafeEqual(seen, keyed)) return true;
    const ok = timingSafeEqual(await scryptAsync(passphrase, e.salt, HASH_BYTES, SCRYPT), e.hash);
    if (ok && this.entries.get(key) === e) this.verified.set(key, keyed);
    return ok;
  }

  private save(): Promise<void> {
    const doc: Doc = {
      announced: [...this.announced.values()],
      allowed: [...this.entries.values()].map((e) => ({ ...e, salt: e.salt.toString('base64'), hash: e.hash.toString('base64') })),
    };
    return this.saved.save(doc);
  }
}
