import { readFile } from 'node:fs/promises';
import { JsonFile } from './json-file.ts';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { IdSet } from '../gc/idset.ts';
import { type Id, idToText, parseId } from '../store/id.ts';
import { type BlockStoreReader, type Reached, reachedFrom, readInTurn } from './blocks.ts';

const FILE = 'announcements.json';
/** The multicodec of raw bytes: a provider record names a root by its plain multihash. */
const RAW = 0x55;

/** The DHT key a root is provided under. */
export function rootCid(root: Id): CID {
  return CID.createV1(RAW, Digest.decode(root));
}

/**
 * What this node announced, per cluster, with each announcement's expiry (epoch ms), kept in
 * the data dir so a restart re-provides them.
 */
export class Announcements {
  private readonly file: string;
  private byCluster = new Map<string, Map<string, number>>();
  private readonly saved: JsonFile;

  private constructor(dataDir: string) {
    this.file = join(dataDir, FILE);
    this.saved = new JsonFile(this.file);
  }

  static async open(dataDir: string): Promise<Announcements> {
    const a = new Announcements(dataDir);
    let text: string | undefined;
    try {
      text = await readFile(a.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== undefined) {
      const doc = JSON.parse(text) as Record<string, Record<string, number>>;
      for (const [cluster, roots] of Object.entries(doc)) a.byCluster.set(cluster, new Map(Object.entries(roots)));
    }
    return a;
  }

  /** Records an announcement; a later expiry extends an earlier one, never the reverse. */
  async add(cluster: string, root: Id, until: number): Promise<void> {
    let roots = this.byCluster.get(cluster);
    if (roots === undefined) this.byCluster.set(cluster, (roots = new Map()));
    const key = idToText(root);
    roots.set(key, Math.max(until, roots.get(key) ?? 0));
    await this.save();
  }

  has(cluster: string, root: Id, now = Date.now()): boolean {
    return (this.byCluster.get(cluster)?.get(idToText(root)) ?? 0) > now;
  }

  live(cluster: string, now = Date.now()): Id[] {
    return [...(this.byCluster.get(cluster) ?? [])].filter(([, until]) => until > now).map(([root]) => parseId(root));
  }

  /** Drops expired announcements and returns them, per cluster. */
  async expire(now = Date.now()): Promise<Array<{ cluster: string; root: Id }>> {
    const gone: Array<{ cluster: string; root: Id }> = [];
    for (const [cluster, roots] of this.byCluster) {
      for (const [root, until] of roots) {
        if (until > now) continue;
        roots.delete(root);
        gone.push({ cluster, root: parseId(root) });
      }
    }
    if (gone.length > 0) await this.save();
    return gone;
  }

  private save(): Promise<void> {
    const doc = Object.fromEntries([...this.byCluster].map(([c, roots]) => [c, Object.fromEntries(roots)]));
    return this.saved.save(doc);
  }
}

/**
 * Adds to `into` every block `root` reaches here, links included (what announcing it serves).
 * Blocks missing locally are skipped: a partial tree serves what it has. A file's chunks are
 * not read: their references say they link to nothing.
 */
export async function addReachable(store: BlockStoreReader, root: Id, into: IdSet): Promise<void> {
  let frontier: Reached[] = [{ kind: 'node', id: root }];
  // Each block enters the frontier once (the set), so the walk ends.
  while (frontier.length > 0) {
    const next: Reached[] = [];
    await readInTurn(store, frontier.filter((w) => into.add(w.id) && w.flat !== true), (w, bytes) => {
      if (bytes !== undefined) next.push(...reachedFrom(w.kind, bytes, w.id));
    });
    frontier = next;
  }
}
