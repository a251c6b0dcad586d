import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** What changed in the dir since the last scan; a changed file is one removal and one addition. */
export interface Changes<T> {
  added: T[];
  removed: T[];
}

export interface YamlDirOptions<T> {
  dir: string;
  logger: Logger;
  /** Called after each scan that changed something, never concurrently with itself. */
  onChange(changes: Changes<T>): Promise<void>;
  /** Rescan this often in any case: fs.watch misses events on some filesystems. */
  rescanMs?: number;
}

/** What one kind of file is: how it parses, and its word in log lines ("cluster", "key"). */
export interface YamlKind<T> {
  what: string;
  /** Throws a CrissError saying what is wrong. */
  parse(text: string): T;
}

interface Loaded<T> {
  text: string;
  item: T | undefined;
}

const DEBOUNCE_MS = 100;

/**
 * The YAML files of one directory (`*.yaml`, `*.yml`), each defining one named item (a
 * cluster, a key pair), kept current without a restart: fs.watch (debounced) plus a periodic
 * rescan. A bad file gets one log line per distinct content and is skipped; so is a second
 * file with a Name already taken.
 */
export class YamlDir<T extends { name: string }> {
  private readonly kind: YamlKind<T>;
  private readonly opts: YamlDirOptions<T>;
  private readonly files = new Map<string, Loaded<T>>();
  private readonly byName = new Map<string, T>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(kind: YamlKind<T>, opts: YamlDirOptions<T>) {
    this.kind = kind;
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
      this.watcher.on('error', (err) => this.opts.logger.warn({ err, dir: this.opts.dir }, `cannot watch the ${this.kind.what}s dir; rescanning periodically`));
    } catch (err) {
      this.opts.logger.warn({ err, dir: this.opts.dir }, `cannot watch the ${this.kind.what}s dir; rescanning periodically`);
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

  get(name: string): T | undefined {
    return this.byName.get(name);
  }

  list(): T[] {
    return [...this.byName.values()];
  }

  /** Scans now (after any scan in progress); scans never overlap. */
  rescan(): Promise<void> {
    this.scanning = this.scanning.then(() => (this.stopped ? undefined : this.scan())).catch((err: unknown) => {
      this.opts.logger.error({ err, dir: this.opts.dir }, `scanning the ${this.kind.what}s dir failed`);
    });
    return this.scanning;
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.opts.dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch (err) {
      this.opts.logger.warn({ err, dir: this.opts.dir }, `cannot read the ${this.kind.what}s dir`);
      return;
    }
    const present = new Set(names);
    for (const file of [...this.files.keys()]) if (!present.has(file)) this.files.delete(file);
    for (const file of names) await this.load(file);
    const next = new Map<string, T>();
    for (const l of this.files.values()) if (l.item !== undefined) next.set(l.item.name, l.item);
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
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.logger.warn({ err, file: path }, `cannot read ${this.kind.what} file; skipped`);
      return;
    }
    const known = this.files.get(file);
    if (known !== undefined && known.text === text) return;
    let item: T | undefined;
    try {
      item = this.kind.parse(text);
    } catch (err) {
      this.opts.logger.warn({ file: path }, `bad ${this.kind.what} file, skipped: ${(err as Error).message}`);
    }
    const name = item?.name;
    const owner = name === undefined ? undefined : [...this.files].find(([f, l]) => f !== file && l.item?.name === name);
    if (owner !== undefined) {
      this.opts.logger.warn({ file: path, other: join(this.opts.dir, owner[0]) }, `${this.kind.what} file repeats a Name already loaded; skipped`);
      item = undefined;
    }
    this.files.set(file, { text, item });
  }
}
