import { rename, writeFile } from 'node:fs/promises';

/**
 * A JSON document the daemon keeps in its data dir (announcements, pointers, tunnels, ports),
 * rewritten whole: to a temporary file, then renamed over the old one, so a crash leaves the
 * old document or the new one. Saves run one at a time in call order, and a failed save does
 * not stop the ones after it.
 */
export class JsonFile {
  readonly path: string;
  private readonly mode: number | undefined;
  private writing: Promise<void> = Promise.resolve();

  /** `mode` for documents only the owner may read (tunnels.json). */
  constructor(path: string, mode?: number) {
    this.path = path;
    this.mode = mode;
  }

  save(doc: unknown): Promise<void> {
    const text = JSON.stringify(doc);
    const run = this.writing.catch(() => undefined).then(async () => {
      await writeFile(`${this.path}.tmp`, text, this.mode === undefined ? undefined : { mode: this.mode });
      await rename(`${this.path}.tmp`, this.path);
    });
    this.writing = run;
    return run;
  }
}
