import { Link, Tuple, decodeValue, encodeValue } from '../codec/index.ts';
import { CrissError } from '../errors.ts';
import { type Id, idToText } from '../store/id.ts';
import type { Mutation } from './mutate.ts';
import type { TreeNode } from './node.ts';
import type { Trees } from './index.ts';

/**
 * A directory is one tree of relative paths (docs/format.md §12): a file's path maps to
 * tuple(link to the file's tree, its size), a directory's path, ending in '/', maps to nil.
 * Every directory on the way to a file has its entry too, so empty directories survive and a
 * listing needs no inference. One flat tree keeps `ls -R` a single range and a merge a single
 * batch; unchanged parts still share their nodes, as in any tree.
 */
export interface DirEntry {
  path: string;
  /** A file's entry: its tree and size. Null for a directory. */
  file: { id: Id; size: number } | null;
}

const MAX_PATH_BYTES = 4096;

/** A path as a directory stores it: relative, '/'-separated, no empty, '.' or '..' segment. */
export function checkPath(path: string): void {
  const bad = (why: string): CrissError => new CrissError('ERR', `invalid path '${path.slice(0, 200)}': ${why}`);
  if (path === '' || path === '/') throw bad('empty');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw bad(`longer than ${MAX_PATH_BYTES} bytes`);
  if (path.startsWith('/')) throw bad('it must be relative');
  if (path.includes('\0')) throw bad('it holds a NUL byte');
  if (!path.isWellFormed()) throw bad('it is not valid Unicode');
  const segments = (path.endsWith('/') ? path.slice(0, -1) : path).split('/');
  for (const s of segments) {
    if (s === '') throw bad('empty segment');
    if (s === '.' || s === '..') throw bad(`'${s}' segment`);
  }
}

function parents(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i >= 0 && i < path.length - 1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i + 1));
  return out;
}

function entryValue(e: DirEntry): Uint8Array {
  return e.file === null ? encodeValue(null) : encodeValue(new Tuple([new Link(e.file.id), e.file.size]));
}

function decodeEntry(dir: Id, key: Uint8Array, val: Uint8Array): DirEntry {
  const path = decodeValue(key);
  const v = decodeValue(val);
  if (typeof path === 'string') {
    if (v === null && path.endsWith('/')) return { path, file: null };
    if (v instanceof Tuple && v.items.length === 2 && v.items[0] instanceof Link && typeof v.items[1] === 'number' && !path.endsWith('/')) {
      return { path, file: { id: v.items[0].id, size: v.items[1] } };
    }
  }
  throw new CrissError('WRONGTYPE', `tree ${idToText(dir)} is not a directory: entry ${JSON.stringify(String(path)).slice(0, 200)} is not a path entry`);
}

/**
 * Adds (or replaces) entries and the directories above them. A path cannot be a file and a
 * directory at once: a file where a directory is (or the other way round) is refused. `since`
 * is the oldest TreeNode.epoch of the files' roots, so a file collected meanwhile is noticed.
 */
export async function putEntries(trees: Trees, dir: TreeNode, entries: DirEntry[], ttlMs: number, since?: number): Promise<Id> {
  const batch = new Map<string, DirEntry>();
  for (const e of entries) {
    checkPath(e.path);
    if ((e.file === null) !== e.path.endsWith('/')) throw new CrissError('ERR', `'${e.path}': a path ending in '/' is a directory and takes no file, any other path needs a file id`);
    for (const p of parents(e.path)) if (!batch.has(p)) batch.set(p, { path: p, file: null });
    batch.set(e.path, e);
  }
  // The opposite spelling of every path (file 'a' vs directory 'a/') must not exist.
  const opposite = [...batch.keys()].map((p) => (p.endsWith('/') ? p.slice(0, -1) : `${p}/`));
  const existing = await trees.getMany(dir, opposite.map((p) => encodeValue(p)));
  opposite.forEach((p, i) => {
    if (existing[i] !== undefined || batch.has(p)) {
      const [file, folder] = p.endsWith('/') ? [p.slice(0, -1), p] : [p, `${p}/`];
      throw new CrissError('CONFLICT', `'${file}' cannot be both a file and a directory ('${folder}')`);
    }
  });
  const muts: Mutation[] = [...batch.values()].map((e) => ({ key: encodeValue(e.path), val: entryValue(e) }));
  const uses = entries.flatMap((e) => (e.file === null ? [] : [{ id: e.file.id, kind: 'node' as const }]));
  return trees.write(dir, muts, ttlMs, since === undefined ? { uses } : { uses, since });
}

/** Entries in path order, optionally only those under `prefix`. */
export async function* listEntries(trees: Trees, dir: TreeNode, prefix = ''): AsyncGenerator<DirEntry> {
  const opts = prefix === '' ? {} : { min: { key: encodeValue(prefix), inclusive: true } };
  for await (const e of trees.range(dir, opts)) {
    const entry = decodeEntry(dir.id, e.key, e.val);
    if (!entry.path.startsWith(prefix)) return;
    yield entry;
  }
}
