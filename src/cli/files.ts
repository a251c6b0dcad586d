import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command } from 'commander';
import { localWriteFailure, replaceAtomically, tempNameFor } from './atomic.ts';
import { clientCommand, examples, parseTtl, withDaemon, write, writeOut } from './common.ts';
import { CliFailure, EXIT } from './exit.ts';
import { Pipeline } from './pipeline.ts';
import { startProgress } from './progress.ts';
import { substituteId } from './substitute.ts';
import { fileBytes, fileSize, sendFile, UPLOAD_IN_FLIGHT } from './transfer.ts';

const FILE_ID_HELP = 'a file id (base58), ^variable or *file.yaml#Field';
export const TTL_HELP = 'pin the new root for this many milliseconds (-1: forever, 0: not pinned)';

/** The size of a local file to upload; anything but a regular file is a usage error. */
async function localSize(path: string): Promise<number | undefined> {
  if (path === '-') return undefined;
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new CliFailure(EXIT.usage, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!info.isFile()) throw new CliFailure(EXIT.usage, `${path} is not a regular file${info.isDirectory() ? ' (use upload_dir for a directory)' : ''}`);
  return info.size;
}

function upload(): Command {
  const cmd = new Command('upload')
    .summary('store a file, print its id')
    .description(
      'Stream a local file (or stdin for "-") to the daemon in pipelined pieces and print the id of the file tree. ' +
        'The id depends only on the bytes. A progress line is shown on stderr when it is a terminal.',
    )
    .argument('<file>', 'the file to upload, or - for stdin')
    .option('--ttl <ms>', TTL_HELP, parseTtl, -1)
    .action(async (path: string, opts: { ttl: number }, self: Command) => {
      const size = await localSize(path);
      const id = await withDaemon(self, async (c) => {
        const p = new Pipeline(c, UPLOAD_IN_FLIGHT);
        const bar = startProgress(path === '-' ? 'stdin' : basename(path), size);
        let fileId = '';
        let done = 0;
        try {
          await sendFile(p, path, opts.ttl, (n) => bar.update((done += n)), (x) => (fileId = x));
          await p.drain();
        } finally {
          bar.finish();
        }
        return fileId;
      });
      await write(`${id}\n`);
    });
  return examples(clientCommand(cmd), [
    'crisscross upload big.iso',
    'crisscross upload notes.txt --ttl 86400000',
    'tar c ./photos | crisscross upload -',
  ]);
}

function cat(): Command {
  const cmd = new Command('cat')
    .summary("write a file's bytes to stdout")
    .description('Write the raw bytes of a file to stdout, streamed in windows: a file of any size passes through a few MiB of memory.')
    .argument('<file-id>', FILE_ID_HELP)
    .action(async (file: string, _opts: object, self: Command) => {
      const id = await substituteId(file);
      await withDaemon(self, async (c) => {
        for await (const chunk of fileBytes(c, id, await fileSize(c, id))) await writeOut(chunk);
      });
    });
  return examples(clientCommand(cmd), ['crisscross cat "$id" | sha256sum', 'crisscross cat "$id" > copy.iso']);
}

function download(): Command {
  const cmd = new Command('download')
    .summary('save a file to a local path, atomically')
    .description(
      'Save a file to <path>: written to a temporary file beside it, synced, then renamed over <path>, ' +
        'so <path> is never half written and nothing is left behind on an error or Ctrl-C. A progress line is shown on stderr when it is a terminal.',
    )
    .argument('<file-id>', FILE_ID_HELP)
    .argument('<path>', 'where to save it (replaced if it exists)')
    .action(async (file: string, path: string, _opts: object, self: Command) => {
      const id = await substituteId(file);
      await withDaemon(self, async (c) => {
        const size = await fileSize(c, id);
        const temp = tempNameFor(path);
        const bar = startProgress(basename(path), size);
        try {
          await replaceAtomically(temp, path, async () => {
            const fh = await open(temp, 'wx', 0o666);
            try {
              let done = 0;
              for await (const chunk of fileBytes(c, id, size)) {
                await fh.write(chunk);
                bar.update((done += chunk.length));
              }
              await fh.sync();
            } finally {
              await fh.close();
            }
          });
        } catch (e) {
          throw localWriteFailure(e, path);
        } finally {
          bar.finish();
        }
      });
    });
  return examples(clientCommand(cmd), ['crisscross download "$id" copy.iso', 'crisscross download ^backup latest.tar']);
}

/** Single files: upload, cat, download. */
export function fileCommands(): Command[] {
  return [upload(), cat(), download()];
}
