import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CliFailure, EXIT } from './exit.ts';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * A hidden name next to `target`: in the same directory, hence on the same filesystem, so the
 * final rename is atomic.
 */
export function tempNameFor(target: string): string {
  const abs = resolve(target);
  return join(dirname(abs), `.${basename(abs)}.crisscross-${randomBytes(6).toString('hex')}`);
}

/**
 * Build `temp` with `fn`, then rename it onto `target`. If `fn` fails or the user interrupts,
 * `temp` is removed, so the target is either untouched or complete, never half written. On a
 * signal the process then dies by that same signal, as a shell expects of an interrupted command.
 */
export async function replaceAtomically<T>(temp: string, target: string, fn: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
    rmSync(temp, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const result = await fn();
    await rename(temp, target);
    await syncDir(dirname(resolve(target)));
    return result;
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

/** Make a rename or a new entry durable: the directory holding it is synced too. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A filesystem error while saving (no such directory, no permission, disk full) names the path, without a stack. */
export function localWriteFailure(e: unknown, target: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (e instanceof CliFailure || typeof code !== 'string') return e;
  return new CliFailure(EXIT.usage, `cannot write ${target}: ${code}`);
}
