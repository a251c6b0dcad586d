import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import type { Id } from './id.ts';

/**
 * Blocks, pins and variables in one LevelDB (docs/format.md §8), each under a one-byte prefix.
 * Every write goes through `commit`: its operations land atomically in one batch, and the
 * promise resolves only once that batch is synced to disk. Writers that arrive while a sync is
 * running share the next one (group commit), so 50 concurrent writers cost a handful of syncs.
 */
const BLOCK = 0x62; // 'b'
const PIN = 0x70; // 'p'
const VAR = 0x76; // 'v'
const META = 0x6d; // 'm'

/** Stored format version; a store written by a newer layout is refused, not misread. */
const STORE_VERSION = 1;
export const FOREVER = Number.MAX_SAFE_INTEGER;

export interface WriteSet {
  blocks?: Array<{ id: Id; bytes: Uint8Array }>;
  /** Pin `root` until `until` (epoch ms, FOREVER for no expiry); an existing later pin stays. */
  pins?: Array<{ root: Id; until: number }>;
  vars?: Array<{ name: Uint8Array; value: Uint8Array | null }>;
}

interface Pending {
  set: WriteSet;
  resolve: () => void;
  reject: (e: unknown) => void;
}

type Batch = Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }>;

export class BlockStore {
  private readonly db: ClassicLevel<Buffer, Buffer>;
  private readonly logger: Logger;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  readonly stats = { commits: 0, syncs: 0, blocksWritten: 0, bytesWritten: 0 };

  private constructor(db: ClassicLevel<Buffer, Buffer>, logger: Logger) {
    this.db = db;
    this.logger = logger;
  }

  static async open(dir: string, logger: Logger): Promise<BlockStore> {
    // A 64 MiB memtable and 64 MiB table files (LevelDB's defaults: 4 and 2) mean far fewer
    // compactions competing with the syncs every write waits for (docs/benchmarks.md).
    const db = new ClassicLevel<Buffer, Buffer>(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      writeBufferSize: 64 * 1024 * 1024,
      maxFileSize: 64 * 1024 * 1024,
    });
    try {
      await db.open();
    } catch (e) {
      throw new CrissError('ERR', `cannot open the store at ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const store = new BlockStore(db, logger);
    const metaKey = Buffer.from([META, 0x76]);
    const version = await db.get(metaKey);
    if (version === undefined) await db.put(metaKey, Buffer.from([STORE_VERSION]), { sync: true });
    else if (version[0] !== STORE_VERSION) {
      await db.close();
      throw new CrissError('ERR', `the store at ${dir} has layout version ${version[0]}; this build reads ${STORE_VERSION}`);
    }
    return store;
  }

  async getBlock(id: Id): Promise<Uint8Array | undefined> {
    return this.db.get(key(BLOCK, id));
  }

  async getBlocks(ids: Id[]): Promise<Array<Uint8Array | undefined>> {
    return this.db.getMany(ids.map((id) => key(BLOCK, id)));
  }

  async hasBlock(id: Id): Promise<boolean> {
    return (await this.db.get(key(BLOCK, id))) !== undefined;
  }

  /** Pin expiry of a root in epoch ms (FOREVER), or undefined when it is not pinned. */
  async pinOf(root: Id): Promise<number | undefined> {
    const prefix = key(PIN, root);
    // Records of one root sort by expiry: the last one is the pin in force.
    for await (const k of this.db.keys({ gte: prefix, lt: Buffer.concat([prefix, MAX_EXPIRY]), reverse: true, limit: 1 })) {
      return Number(k.readBigUint64BE(prefix.length));
    }
    return undefined;
  }

  /** Every pinned root with its pin in force, in root order. */
  async *pins(): AsyncGenerator<{ root: Id; until: number }> {
    let last: { root: Id; until: number } | undefined;
    for await (const k of this.db.keys({ gt: Buffer.from([PIN]), lt: Buffer.from([PIN + 1]) })) {
      const root = k.subarray(1, k.length - 8);
      const until = Number(k.readBigUint64BE(k.length - 8));
      if (last !== undefined && Buffer.compare(last.root, root) !== 0) yield last;
      last = { root, until };
    }
    if (last !== undefined) yield last;
  }

  async *vars(): AsyncGenerator<{ name: Uint8Array; value: Uint8Array }> {
    for await (const [k, v] of this.db.iterator({ gt: Buffer.from([VAR]), lt: Buffer.from([VAR + 1]) })) {
      yield { name: k.subarray(1), value: v };
    }
  }

  /** Applies the write set atomically; resolves once it is durable. */
  commit(set: WriteSet): Promise<void> {
    if (this.closed) return Promise.reject(new CrissError('CLOSED', 'the store is closing'));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.queue.push({ set, resolve, reject });
    this.flushing ??= this.flushLoop();
    return promise;
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      try {
        await this.db.batch(this.batchOf(group), { sync: true });
        this.stats.syncs++;
        this.stats.commits += group.length;
        for (const p of group) p.resolve();
      } catch (e) {
        this.logger.error({ err: e }, 'store write failed');
        const err = new CrissError('ERR', `store write failed: ${(e as Error).message}`, { cause: e });
        for (const p of group) p.reject(err);
      }
    }
    this.flushing = null;
  }

  /** One batch for a whole group of writers. */
  private batchOf(group: Pending[]): Batch {
    const ops: Batch = [];
    for (const { set } of group) {
      for (const b of set.blocks ?? []) {
        ops.push({ type: 'put', key: key(BLOCK, b.id), value: b.bytes as Buffer });
        this.stats.blocksWritten++;
        this.stats.bytesWritten += b.bytes.length;
      }
      for (const v of set.vars ?? []) {
        if (v.value === null) ops.push({ type: 'del', key: key(VAR, v.name) });
        else ops.push({ type: 'put', key: key(VAR, v.name), value: Buffer.from(v.value) });
      }
      // A pin is a record keyed by root and expiry, written blind: the latest expiry wins by
      // key order, so concurrent pins need no read-modify-write and none can shorten another.
      for (const p of set.pins ?? []) ops.push({ type: 'put', key: pinKey(p.root, p.until), value: EMPTY });
    }
    return ops;
  }

  info(): Array<[string, string | number]> {
    return [
      ['store_commits', this.stats.commits],
      ['store_syncs', this.stats.syncs],
      ['store_blocks_written', this.stats.blocksWritten],
      ['store_bytes_written', this.stats.bytesWritten],
      ['store_queue', this.queue.length],
    ];
  }

  /** Waits for queued writes to land, then closes LevelDB. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing !== null) await this.flushing;
    await this.db.close();
    this.logger.debug('store closed');
  }
}

const EMPTY = Buffer.alloc(0);
const MAX_EXPIRY = Buffer.alloc(8, 0xff);

function pinKey(root: Id, until: number): Buffer {
  const k = Buffer.allocUnsafe(1 + root.length + 8);
  k[0] = PIN;
  k.set(root, 1);
  k.writeBigUint64BE(BigInt(until), 1 + root.length);
  return k;
}

function key(prefix: number, id: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(1 + id.length);
  k[0] = prefix;
  k.set(id, 1);
  return k;
}
