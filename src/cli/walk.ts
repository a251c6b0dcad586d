import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CliFailure, EXIT } from './exit.ts';

/** What upload_dir stores: a regular file, or a directory with nothing in it. */
export type LocalEntry =
  | { kind: 'file'; path: string; abs: string; size: number }
  | { kind: 'dir'; path: string; abs: string };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A local filesystem call whose failure (missing, unreadable) is the user's to fix: exit 2. */
async function local<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new CliFailure(EXIT.usage, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function kindOf(info: Stats): string {
  if (info.isSymbolicLink()) return 'a symbolic link (links are never followed)';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file or directory';
}

/**
 * Every regular file under `root`, and every empty directory, with '/'-separated paths relative
 * to it (an empty directory's path ends in '/'), in a stable order. Nothing is uploaded unless
 * the whole tree is uploadable, so every symlink, special file and non-UTF-8 name under it is
 * reported at once, as a usage error naming each path.
 */
export async function walk(root: string): Promise<LocalEntry[]> {
  const top = await local(root, () => lstat(root));
  if (!top.isDirectory()) throw new CliFailure(EXIT.usage, `${root} is ${top.isFile() ? 'a file (use upload)' : kindOf(top)}, not a directory`);
  const entries: LocalEntry[] = [];
  const refused: string[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const names = (await local(abs, () => readdir(abs, { encoding: 'buffer' }))).sort(Buffer.compare);
    if (names.length === 0 && rel !== '') entries.push({ kind: 'dir', path: rel, abs });
    for (const raw of names) {
      const child = join(abs, raw.toString());
      let name: string;
      try {
        name = UTF8.decode(raw);
      } catch {
        refused.push(`${child}: the name is not valid UTF-8`);
        continue;
      }
      const info = await local(child, () => lstat(child));
      if (info.isDirectory()) await visit(child, `${rel}${name}/`);
      else if (info.isFile()) entries.push({ kind: 'file', path: `${rel}${name}`, abs: child, size: info.size });
      else refused.push(`${child}: ${kindOf(info)}`);
    }
  };
  await visit(root, '');
  if (refused.length > 0) throw new CliFailure(EXIT.usage, `refusing to upload ${root}, which holds what a directory cannot:\n  ${refused.join('\n  ')}`);
  return entries;
}
