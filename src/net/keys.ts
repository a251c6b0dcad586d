import type { Logger } from 'pino';
import { type KeyEntry, parseKeyFile } from './key-file.ts';
import { YamlDir } from './yaml-dir.ts';

/**
 * The key pairs of the keys dir, by Name, kept current without a restart like the clusters
 * dir: what pointers, jobs and tunnels sign with (or verify against, for a public-only file).
 */
export class Keys {
  private readonly dir: YamlDir<KeyEntry>;

  constructor(opts: { dir: string; logger: Logger; rescanMs?: number }) {
    this.dir = new YamlDir({ what: 'key', parse: parseKeyFile }, { ...opts, onChange: async () => undefined });
  }

  /** The first scan is done when this resolves. */
  start(): Promise<void> {
    return this.dir.start();
  }

  stop(): Promise<void> {
    return this.dir.stop();
  }

  get(name: string): KeyEntry | undefined {
    return this.dir.get(name);
  }

  /** Like `get`, but a miss rescans the dir first: a file written a moment ago is found. */
  async find(name: string): Promise<KeyEntry | undefined> {
    const known = this.dir.get(name);
    if (known !== undefined) return known;
    await this.dir.rescan();
    return this.dir.get(name);
  }

  list(): KeyEntry[] {
    return this.dir.list();
  }
}
