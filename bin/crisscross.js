#!/usr/bin/env node
// The `crisscross` bin. The code is TypeScript; the bin runs it as JavaScript with the types
// stripped (bin/built.js: built on first use into dist/, again whenever src/ changes), or from
// the sources by Node's own type stripping when no build can be written. This file stays plain
// JavaScript that even an old Node can parse: on a Node without type stripping it re-runs
// itself under the Node the project pins in node_modules.
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Set in the re-run child, so a pinned Node that is somehow too old reports instead of looping.
const REEXEC_ENV = 'CRISSCROSS_REEXEC';

// glibc's malloc keeps freed large buffers (file pieces, chunks) in per-thread arenas and raises
// its mmap threshold as they are freed, so a daemon moving a 1 GiB file held ~260 MB of RSS it
// no longer used; with these, ~190 MB (docs/benchmarks.md). The caller's own values win.
const MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
// V8 sizes a fresh heap's old generation for a small script; the daemon's ~22 MB of modules and
// state sat at that limit, and while a file streamed through, V8 marked the whole heap every
// ~50 ms (60-70 full collections in a 512 MiB upload, each freeing almost nothing) and the main
// thread's CPU doubled. 64 MiB leaves room; it is a limit, not memory taken. The young
// generation grows to 16 MiB semi-spaces by default, and while a file streamed through it did:
// 4 MiB keeps the daemon's peak RSS under 200 MiB (176 against 197 after a 1 GiB upload, 179
// against 208 after its cat) at the same upload, read and put rates (docs/benchmarks.md).
const SERVE_V8_FLAGS = ['--initial-old-space-size=64', '--max-semi-space-size=4'];
// Both only take effect at process start, so `serve` re-runs itself once with them.
const serving = process.argv[2] === 'serve';

// Resolve symlinks: npm links bins into node_modules/.bin, and the package root is what we need.
const binFile = realpathSync(fileURLToPath(import.meta.url));
const root = dirname(dirname(binFile));

if (process.features.typescript && !(serving && !process.env[REEXEC_ENV])) {
  const { builtEntry } = await import('./built.js');
  await import(pathToFileURL(builtEntry(root) ?? join(root, 'src', 'cli', 'main.ts')).href);
} else if (process.features.typescript) {
  reRun(process.execPath);
} else {
  const pinned = [join(root, 'node_modules', 'node', 'bin', 'node'), join(root, 'node_modules', '.bin', 'node')]
    .find((p) => existsSync(p));
  if (!pinned || process.env[REEXEC_ENV]) {
    process.stderr.write(
      `crisscross needs Node >= 22.18 (this is Node ${process.versions.node}); ` +
        `run \`npm ci\` in ${root} to install the pinned Node, or install Node 22.18+ yourself.\n`,
    );
    process.exit(1);
  }
  reRun(pinned);
}

function reRun(node) {
  const args = process.argv.slice(2);
  // The daemon gets its own process group, so a terminal's Ctrl-C reaches it once (forwarded by
  // us) rather than twice, which it would take as "exit at once" instead of a graceful close.
  // Client commands stay in ours: a background group could not read a terminal's stdin.
  const child = spawn(node, [...(serving ? SERVE_V8_FLAGS : []), binFile, ...args], {
    stdio: 'inherit',
    detached: args[0] === 'serve',
    env: { ...(serving ? MALLOC_ENV : {}), ...process.env, [REEXEC_ENV]: '1' },
  });
  const forward = (signal) => child.kill(signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward);
  child.on('error', (err) => {
    process.stderr.write(`crisscross: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      // Die of the same signal, so our parent sees what the child's parent would have seen.
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(s, forward);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}
