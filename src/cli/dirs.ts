import { lstat, mkdir, open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Command } from 'commander';
import { localWriteFailure, replaceAtomically, tempNameFor } from './atomic.ts';
import type { Connection } from './client.ts';
import { bytes, clientCommand, examples, integer, list, parseTtl, withDaemon, write } from './common.ts';
import { CliFailure, EXIT } from './exit.ts';
import { TTL_HELP } from './files.ts';
import { Pipeline, readPieces, windows } from './pipeline.ts';
import { startProgress } from './progress.ts';
import { substituteId } from './substitute.ts';
import { READ_AHEAD, READ_WINDOW, sendFile, UPLOAD_IN_FLIGHT, writePieces } from './transfer.ts';
import { walk, type LocalEntry } from './walk.ts';

const DIR_ID_HELP = 'a directory id (base58), ^variable or *file.yaml#Field';
/** Paths per DIRPUT: one command stays well under a MiB of arguments. */
const BATCH_ENTRIES = 1000;
/**
 * Files go up with TTL 0, and so does each batch's directory but the last: only the grace
 * period (60 s by default) keeps them until the next DIRPUT links them in. A batch is therefore
 * also cut after this many file bytes or this long, whichever comes first.
 */
const BATCH_BYTES = 64 * 1024 * 1024;
const BATCH_MS = 15_000;
/** An empty directory is the empty tree, whose id docs/format.md fixes; it needs no block, hence no pin. */
const EMPTY_TREE = 'QmSKXjKE3PxPabmvpaTpdpsLCL3sBdm9vU2SM4hQSMDPVj';

/**
 * Upload every entry on one pipelined connection and record them on `base` in chained DIRPUT
 * batches: each batch goes on the directory the last one made, unpinned but for the final one.
 */
async function putTree(c: Connection, entries: LocalEntry[], base: string, ttl: number, onAcked: (n: number) => void): Promise<string> {
  const p = new Pipeline(c, UPLOAD_IN_FLIGHT);
  let current = base;
  let batch: string[] = [];
  let batchBytes = 0;
  let batchStarted = Date.now();
  const flush = async (batchTtl: number): Promise<void> => {
    await p.drain();
    current = bytes(await c.call('DIRPUT', current, String(batchTtl), ...batch), 'DIRPUT').toString();
    batch = [];
    batchBytes = 0;
    batchStarted = Date.now();
  };
  for (const [i, entry] of entries.entries()) {
    const pairs = batch;
    const slot = pairs.push(entry.path, '') - 1;
    if (entry.kind === 'file') {
      await sendFile(p, entry.abs, 0, onAcked, (fileId) => (pairs[slot] = fileId));
      batchBytes += entry.size;
    }
    const full = pairs.length / 2 >= BATCH_ENTRIES || batchBytes >= BATCH_BYTES || Date.now() - batchStarted >= BATCH_MS;
    if (full && i < entries.length - 1) await flush(0);
  }
  if (batch.length > 0) await flush(ttl);
  else if (current !== '') await c.call('PERSIST', current, String(ttl));
  else current = EMPTY_TREE;
  return current;
}

function uploadDir(): Command {
  const cmd = new Command('upload_dir')
    .summary('store a directory tree, print its id')
    .description(
      'Upload every regular file under <dir> and record the tree as a directory (empty files and empty directories included) ' +
        'and print its id. Symbolic links, named pipes, sockets and devices are refused (exit 2, naming each path) before ' +
        'anything is sent: links are never followed. With --tree, the files are merged into an existing directory ' +
        '(a path present in both takes the new file) and the id of the merged directory is printed.',
    )
    .argument('<dir>', 'the local directory')
    .option('--tree <dir-id>', `merge into this directory: ${DIR_ID_HELP}`)
    .option('--ttl <ms>', TTL_HELP, parseTtl, -1)
    .action(async (dir: string, opts: { tree?: string; ttl: number }, self: Command) => {
      const entries = await walk(dir);
      const base = opts.tree === undefined ? '' : await substituteId(opts.tree);
      const total = entries.reduce((n, e) => n + (e.kind === 'file' ? e.size : 0), 0);
      let done = 0;
      const id = await withDaemon(self, async (c) => {
        const bar = startProgress(basename(dir), total);
        try {
          return await putTree(c, entries, base, opts.ttl, (n) => bar.update((done += n)));
        } finally {
          bar.finish();
        }
      });
      await write(`${id}\n`);
    });
  return examples(clientCommand(cmd), [
    'crisscross upload_dir ./site',
    'crisscross upload_dir ./more --tree "$site"',
    'crisscross var_set site "$(crisscross upload_dir ./site --ttl -1)"',
  ]);
}

interface DirEntry {
  path: string;
  /** -1 for a directory. */
  size: number;
  /** Empty for a directory. */
  file: string;
}

async function dirList(c: Connection, dir: string, prefix?: string): Promise<DirEntry[]> {
  const reply = list(await (prefix === undefined ? c.call('DIRLIST', dir) : c.call('DIRLIST', dir, prefix)), 'DIRLIST');
  return reply.map((item) => {
    const [path, size, file] = list(item, 'DIRLIST');
    return { path: bytes(path ?? null, 'DIRLIST').toString(), size: integer(size ?? null, 'DIRLIST'), file: file ? bytes(file, 'DIRLIST').toString() : '' };
  });
}

function ls(): Command {
  const cmd = new Command('ls')
    .summary("list a directory's files and directories")
    .description(
      'List every entry of a directory, nested ones included, in path order: one "size<TAB>path" line each; ' +
        'a directory has size "-" and a path ending in "/". The path comes last, so `cut -f2-` recovers it whatever it holds.',
    )
    .argument('<dir-id>', DIR_ID_HELP)
    .argument('[prefix]', 'only paths that start with this')
    .option('--ids', 'add each file\'s id: "size<TAB>id<TAB>path"')
    .action(async (dir: string, prefix: string | undefined, opts: { ids?: boolean }, self: Command) => {
      const id = await substituteId(dir);
      const entries = await withDaemon(self, (c) => dirList(c, id, prefix));
      for (const e of entries) {
        const size = e.size < 0 ? '-' : String(e.size);
        await write(opts.ids ? `${size}\t${e.file || '-'}\t${e.path}\n` : `${size}\t${e.path}\n`);
      }
    });
  return examples(clientCommand(cmd), ['crisscross ls "$site"', 'crisscross ls ^site img/ --ids', 'crisscross ls "$site" | cut -f2-']);
}

/** A path the daemon handed over, as segments that cannot leave the target directory. */
export function safeSegments(path: string): string[] {
  const segments = (path.endsWith('/') ? path.slice(0, -1) : path).split('/');
  const bad = path.startsWith('/') || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new CliFailure(EXIT.server, `refusing to download: the directory holds the path ${JSON.stringify(path)}, which would escape the target`);
  return segments;
}

/** The target is created whole at the end, so it may only be absent or an empty directory now. */
async function checkTarget(target: string): Promise<void> {
  try {
    const info = await lstat(target);
    if (info.isDirectory() && (await readdir(target)).length === 0) return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CliFailure(EXIT.usage, `cannot use ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  throw new CliFailure(EXIT.usage, `${target} already exists: download_dir creates the target, which may only be missing or an empty directory`);
}

function downloadDir(): Command {
  const cmd = new Command('download_dir')
    .summary('recreate a directory tree locally')
    .description(
      'Recreate a directory\'s files and empty directories under <target>, which must be missing or empty. The tree is built ' +
        'in a temporary directory beside <target> and renamed into place at the end, so an error or Ctrl-C leaves nothing ' +
        'behind. Paths that would escape <target> (absolute, "..") are refused before anything is written.',
    )
    .argument('<dir-id>', DIR_ID_HELP)
    .argument('<target>', 'the directory to create')
    .action(async (dir: string, target: string, _opts: object, self: Command) => {
      const id = await substituteId(dir);
      await checkTarget(target);
      await withDaemon(self, async (c) => {
        const entries = await dirList(c, id);
        const placed = entries.map((e) => ({ ...e, segments: safeSegments(e.path) }));
        const files = placed.filter((e) => e.size >= 0);
        const bar = startProgress(basename(target), files.reduce((n, e) => n + e.size, 0));
        // One stream of reads across all files, so small files do not each wait a round trip.
        const replies = readPieces(c, (function* () {
          for (const f of files) yield* windows(f.file, f.size, READ_WINDOW);
        })(), READ_AHEAD);
        const temp = tempNameFor(target);
        let done = 0;
        try {
          await replaceAtomically(temp, target, async () => {
            await mkdir(temp);
            for (const e of placed) {
              const abs = join(temp, ...e.segments);
              if (e.size < 0) {
                await mkdir(abs, { recursive: true });
                continue;
              }
              await mkdir(dirname(abs), { recursive: true });
              const fh = await open(abs, 'wx', 0o666);
              try {
                await writePieces(c, fh, windows(e.file, e.size, READ_WINDOW), replies, (n) => bar.update((done += n)));
                await fh.sync();
              } finally {
                await fh.close();
              }
            }
          });
        } catch (e) {
          throw localWriteFailure(e, target);
        } finally {
          bar.finish();
        }
      });
    });
  return examples(clientCommand(cmd), ['crisscross download_dir "$site" ./copy', 'crisscross download_dir ^site /srv/www-new']);
}

/** Directories: upload_dir, ls, download_dir. */
export function dirCommands(): Command[] {
  return [uploadDir(), ls(), downloadDir()];
}
