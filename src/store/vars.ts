import type { BlockStore } from './blockstore.ts';

/**
 * Named local values (VARSET/VARGET), typically the current root of an application's tree.
 * All of them live in memory (they are few and small) and every change is committed durably
 * before it is acknowledged. Changes are applied in memory first, in call order, so a
 * compare-and-set decided here can never be overtaken by a write issued after it.
 */
export class Vars {
  private readonly store: BlockStore;
  private readonly values = new Map<string, Uint8Array>();
  readonly ready: Promise<void>;
  private loaded = false;

  constructor(store: BlockStore) {
    this.store = store;
    this.ready = this.load();
  }

  private async load(): Promise<void> {
    for await (const { name, value } of this.store.vars()) this.values.set(Buffer.from(name).toString('latin1'), value);
    this.loaded = true;
  }

  /** The value, or undefined; `null` when the variables are still loading (callers then await `ready`). */
  getSync(name: Uint8Array): Uint8Array | undefined | null {
    if (!this.loaded) return null;
    return this.values.get(Buffer.from(name).toString('latin1'));
  }

  async get(name: Uint8Array): Promise<Uint8Array | undefined> {
    await this.ready;
    return this.values.get(Buffer.from(name).toString('latin1'));
  }

  /**
   * Sets `name` when `expect` allows it: undefined = always, null = only if absent, bytes = only
   * if the current value equals them. Returns false (nothing written) when the check fails.
   */
  async set(name: Uint8Array, value: Uint8Array | null, expect?: Uint8Array | null): Promise<boolean> {
    await this.ready;
    const key = Buffer.from(name).toString('latin1');
    const current = this.values.get(key);
    if (expect === null && current !== undefined) return false;
    if (expect instanceof Uint8Array && (current === undefined || Buffer.compare(current, expect) !== 0)) return false;
    const stored = value === null ? undefined : Buffer.from(value);
    if (stored === undefined) this.values.delete(key);
    else this.values.set(key, stored);
    try {
      await this.store.commit({ vars: [{ name, value }] });
    } catch (e) {
      // Not durable, so not acknowledged: put back what was there, unless a later set moved on.
      if (this.values.get(key) === stored) {
        if (current === undefined) this.values.delete(key);
        else this.values.set(key, current);
      }
      throw e;
    }
    return true;
  }
}
