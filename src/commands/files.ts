import { CrissError } from '../errors.ts';
import { idToText } from '../store/id.ts';
import { type DirEntry, listEntries, putEntries } from '../tree/dir.ts';
import { type BlobAppender, FileWriter, fileSize, readFile } from '../tree/file.ts';
import { type TreeDeps, intArg, treeArg, ttlArg } from './args.ts';
import type { ArgumentDoc, CommandContext, CommandSpec } from './spec.ts';
import { rootOf } from './args.ts';

export interface FileDeps extends TreeDeps {
  blobs: BlobAppender;
}

const UPLOAD = 'file.upload';
/** One FILEREAD reply at most: big enough to stream at disk speed, small enough to buffer. */
export const MAX_READ = 64 * 1024 * 1024;

const FILE: ArgumentDoc = { name: 'file', type: 'key', display_text: 'file' };
const DIR: ArgumentDoc = { name: 'dir', type: 'key', display_text: 'dir' };
const TTL: ArgumentDoc = { name: 'ttl', type: 'integer', display_text: 'ttl' };

function uploadOf(ctx: CommandContext): FileWriter {
  const up = ctx.client.state.get(UPLOAD) as FileWriter | undefined;
  if (up === undefined) throw new CrissError('ERR', 'no upload is open on this connection: use FILEBEGIN first');
  return up;
}

function uploadCommands(deps: FileDeps): CommandSpec[] {
  return [
    {
      name: 'FILEBEGIN', arity: 1, flags: ['write'], group: 'file', since: '0.2.0',
      summary: 'Opens an upload on this connection: send the file with FILEWRITE, then FILEEND.',
      arguments: [],
      reply: 'Simple string OK. An error when this connection already has an upload open.',
      handler: (ctx) => {
        if (ctx.client.state.has(UPLOAD)) throw new CrissError('ERR', 'an upload is already open on this connection: FILEEND or FILEABORT it first');
        // The writer's close() runs when the connection goes away: an interrupted upload vanishes.
        ctx.client.state.set(UPLOAD, new FileWriter(deps.trees, deps.blobs));
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'FILEWRITE', arity: 2, flags: ['write'], group: 'file', since: '0.2.0', releasesArgs: true,
      summary: 'Appends bytes to this connection\'s upload. Pipeline pieces of any size (1 MiB works well).',
      arguments: [{ name: 'data', type: 'string' }],
      reply: 'Integer: bytes received so far in this upload.',
      handler: async (ctx) => {
        const up = uploadOf(ctx);
        try {
          ctx.reply.integer(await up.write(ctx.args[0]));
        } catch (e) {
          up.close();
          ctx.client.state.delete(UPLOAD);
          throw e;
        }
      },
    },
    {
      name: 'FILEEND', arity: 2, flags: ['write'], group: 'file', since: '0.2.0',
      summary: 'Ends this connection\'s upload: stores the file as a tree and returns its id.',
      arguments: [TTL],
      reply: 'Bulk string: the file\'s id (base58), pinned for ttl ms. The id depends only on the bytes.',
      handler: async (ctx) => {
        const ttl = ttlArg(ctx.args[0]);
        const up = uploadOf(ctx);
        ctx.client.state.delete(UPLOAD);
        try {
          ctx.reply.bulk(idToText(await up.finish(ttl)));
        } finally {
          up.close();
        }
      },
    },
    {
      name: 'FILEABORT', arity: 1, flags: ['write', 'fast'], group: 'file', since: '0.2.0',
      summary: 'Drops this connection\'s upload; nothing of it becomes visible.',
      arguments: [],
      reply: 'Simple string OK, also when no upload was open.',
      handler: (ctx) => {
        (ctx.client.state.get(UPLOAD) as FileWriter | undefined)?.close();
        ctx.client.state.delete(UPLOAD);
        ctx.reply.simple('OK');
      },
    },
  ];
}

function readCommands(deps: FileDeps): CommandSpec[] {
  return [
    {
      name: 'FILESIZE', arity: 2, flags: ['readonly', 'fast'], group: 'file', since: '0.2.0',
      summary: 'Returns the length of a file in bytes.',
      arguments: [FILE],
      reply: 'Integer: the file\'s length. WRONGTYPE when the tree is not a file.',
      handler: async (ctx) => ctx.reply.integer(await fileSize(deps.trees, await rootOf(deps, ctx.args[0]))),
    },
    {
      name: 'FILEREAD', arity: 4, flags: ['readonly'], group: 'file', since: '0.2.0',
      summary: 'Returns a byte range of a file.',
      arguments: [FILE, { name: 'offset', type: 'integer' }, { name: 'length', type: 'integer' }],
      reply: `Bulk string: bytes [offset, offset + length), clipped at the end of the file (empty past it). length is at most ${MAX_READ}.`,
      handler: async (ctx) => {
        const offset = intArg(ctx.args[1], 'offset', 0, Number.MAX_SAFE_INTEGER);
        const length = intArg(ctx.args[2], 'length', 0, MAX_READ);
        const read = await readFile(deps.trees, await rootOf(deps, ctx.args[0]), offset, length);
        ctx.reply.bulkParts(read.parts, read.release);
      },
    },
  ];
}

function dirCommands(deps: FileDeps): CommandSpec[] {
  return [
    {
      name: 'DIRPUT', arity: -5, flags: ['write'], group: 'file', since: '0.2.0',
      summary: 'Adds files and directories to a directory tree and returns the new directory.',
      arguments: [DIR, TTL, { name: 'entry', type: 'block', multiple: true, arguments: [{ name: 'path', type: 'string' }, { name: 'file', type: 'key' }] }],
      reply: 'Bulk string: the new directory\'s id. A path ending in "/" is a directory and takes "" as its file; parent directories are added; an existing path is replaced.',
      handler: async (ctx) => {
        const a = ctx.args;
        if ((a.length - 2) % 2 !== 0) throw new CrissError('ERR', "wrong number of arguments for 'dirput' command");
        const ttl = ttlArg(a[1]);
        const entries: DirEntry[] = [];
        let since = Number.POSITIVE_INFINITY;
        for (let i = 2; i < a.length; i += 2) {
          const path = Buffer.from(a[i]).toString('utf8');
          if (!Buffer.from(path).equals(Buffer.from(a[i]))) throw new CrissError('ERR', 'a path must be valid UTF-8');
          if (path.endsWith('/')) {
            if (a[i + 1].length !== 0) throw new CrissError('ERR', `'${path}' is a directory: its file argument must be ""`);
            entries.push({ path, file: null });
            continue;
          }
          if (a[i + 1].length === 0) throw new CrissError('ERR', `'${path}' needs a file id (a path ending in "/" is a directory)`);
          const file = await deps.trees.root(await treeArg(deps, a[i + 1]));
          since = Math.min(since, file.epoch);
          entries.push({ path, file: { id: file.id, size: await fileSize(deps.trees, file) } });
        }
        const dir = await rootOf(deps, a[0]);
        ctx.reply.bulk(idToText(await putEntries(deps.trees, dir, entries, ttl, Number.isFinite(since) ? since : undefined)));
      },
    },
    {
      name: 'DIRLIST', arity: -2, flags: ['readonly'], group: 'file', since: '0.2.0',
      summary: 'Lists a directory tree: every path (under a prefix, if given) in path order.',
      arguments: [DIR, { name: 'prefix', type: 'string', optional: true }],
      reply: 'Array of [path, size, file] triples: a file\'s size and id; a directory\'s path ends in "/", its size is -1 and its file nil.',
      handler: async (ctx) => {
        if (ctx.args.length > 2) throw new CrissError('ERR', "wrong number of arguments for 'dirlist' command");
        const prefix = ctx.args.length === 2 ? Buffer.from(ctx.args[1]).toString('utf8') : '';
        const out: DirEntry[] = [];
        for await (const e of listEntries(deps.trees, await rootOf(deps, ctx.args[0]), prefix)) out.push(e);
        ctx.reply.array(out.length);
        for (const e of out) {
          ctx.reply.array(3);
          ctx.reply.bulk(e.path);
          ctx.reply.integer(e.file === null ? -1 : e.file.size);
          if (e.file === null) ctx.reply.nil();
          else ctx.reply.bulk(idToText(e.file.id));
        }
      },
    },
  ];
}

export function fileCommands(deps: FileDeps): CommandSpec[] {
  return [...uploadCommands(deps), ...readCommands(deps), ...dirCommands(deps)];
}
