import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Cluster, parseCluster } from './cluster-file.ts';

/** What changed in the clusters dir since the last scan; a changed file is one removal and one addition. */
export interface ClusterChanges {
  added: Cluster[];
  removed: Cluster[];
}

export interface ClusterDirOptions {
  dir: string;
  logger: Logger;
  /** Called after each scan that changed something, never concurrently with itself. */
  onChange(changes: ClusterChanges): Promise<void>;
  /** Rescan this often in any case: fs.watch misses events on some filesystems. */
  rescanMs?: number;
}

interface Loaded {
  text: string;
  cluster: Cluster | undefined;
}

const DEBOUNCE_MS = 100;

/**
 * The cluster files of one directory (`*.yaml`, `*.yml`), kept current without a restart:
 * fs.watch (debounced) plus a periodic rescan. A bad file gets one log line per distinct
 * content and is skipped; so is a second file with a Name already taken.
 */
export class ClusterDir {
  private readonly opts: ClusterDirOptions;
  private readonly files = new Map<string, Loaded>();
  private readonly byName = new Map<string, Cluster>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(opts: ClusterDirOptions) {
    this.opts = opts;
  }

  /** The first scan completes (and its onChange runs) before this resolves. */
  async start(): Promise<void> {
    await this.rescan();
    try {
      this.watcher = watch(this.opts.dir, () => {
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.rescan(), DEBOUNCE_MS);
      });
      this.watcher.on('error', (err) => this.opts.logger.warn({ err, dir: this.opts.dir }, 'cannot watch the clusters dir; rescanning periodically'));
    } catch (err) {
      this.opts.logger.warn({ err, dir: this.opts.dir }, 'cannot watch the clusters dir; rescanning periodically');
    }
    this.timer = setInterval(() => void this.rescan(), this.opts.rescanMs ?? 5000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    await this.scanning;
  }

  get(name: string): Cluster | undefined {
    return this.byName.get(name);
  }

  list(): Cluster[] {
    return [...this.byName.values()];
  }

  /** Scans now (after any scan in progress); scans never overlap. */
  rescan(): Promise<void> {
    this.scanning = this.scanning.then(() => (this.stopped ? undefined : this.scan())).catch((err: unknown) => {
      this.opts.logger.error({ err, dir: this.opts.dir }, 'scanning the clusters dir failed');
    });
    return this.scanning;
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.opts.dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch (err) {
      this.opts.logger.warn({ err, dir: this.opts.dir }, 'cannot read the clusters dir');
      return;
    }
    const present = new Set(names);
    for (const file of [...this.files.keys()]) if (!present.has(file)) this.files.delete(file);
    for (const file of names) await this.load(file);
    const next = new Map<string, Cluster>();
    for (const l of this.files.values()) if (l.cluster !== undefined) next.set(l.cluster.name, l.cluster);
    const removed = [...this.byName.values()].filter((c) => next.get(c.name) !== c);
    const added = [...next.values()].filter((c) => this.byName.get(c.name) !== c);
    if (removed.length === 0 && added.length === 0) return;
    this.byName.clear();
    for (const [n, c] of next) this.byName.set(n, c);
    await this.opts.onChange({ added, removed });
  }

  private async load(file: string): Promise<void> {
    const path = join(this.opts.dir, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Deleted or renamed between readdir and here: the next scan sees it as it is.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.logger.warn({ err, file: path }, 'cannot read cluster file; skipped');
      return;
    }
    const known = this.files.get(file);
    if (known !== undefined && known.text === text) return;
    let cluster: Cluster | undefined;
    try {
      cluster = parseCluster(text);
    } catch (err) {
      this.opts.logger.warn({ file: path }, `bad cluster file, skipped: ${(err as Error).message}`);
    }
    const name = cluster?.name;
    const owner = name === undefined ? undefined : [...this.files].find(([f, l]) => f !== file && l.cluster?.name === name);
    if (owner !== undefined) {
      this.opts.logger.warn({ file: path, other: join(this.opts.dir, owner[0]) }, 'cluster file repeats a Name already loaded; skipped');
      cluster = undefined;
    }
    this.files.set(file, { text, cluster });
  }
}
