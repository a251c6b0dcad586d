// Finds (and when missing, makes) the JavaScript build of src/ that the bin runs: Node strips
// types itself, but its stripper (a WebAssembly module) then stays in every process, ~20 MiB of
// a daemon's RSS, and stripping ~300 files costs each CLI command ~0.2 s of its start.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Bumped when the build's output changes for the same sources. */
const BUILD_FORMAT = 1;

/**
 * A stamp of the sources: every file's path, size and modification time. A build lives in
 * dist/<stamp>/ and is never changed after it is made, so processes running an older build are
 * never disturbed, and a changed file (whatever its new time) means a new stamp.
 */
export function sourceStamp(root) {
  const hash = createHash('sha256').update(`crisscross build ${BUILD_FORMAT}\n`);
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const st = statSync(path);
        hash.update(`${relative(root, path)}\0${st.size}\0${st.mtimeMs}\n`);
      }
    }
  };
  walk(join(root, 'src'));
  const pkg = statSync(join(root, 'package.json'));
  hash.update(`package.json\0${pkg.size}\0${pkg.mtimeMs}\n`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * The built `src/cli/main.js` for the sources as they are now, building it first in a child
 * process (the stripper stays out of this one) when there is none; undefined when no build can
 * be made (a read-only install, say): the caller then runs the TypeScript sources.
 */
export function builtEntry(root) {
  let stamp;
  try {
    stamp = sourceStamp(root);
  } catch {
    return undefined;
  }
  const dir = join(root, 'dist', stamp);
  const entry = join(dir, 'src', 'cli', 'main.js');
  if (existsSync(join(dir, 'BUILT'))) {
    // Marked as used, so that pruning (bin/build.js keeps the most recent) spares it.
    try {
      const now = new Date();
      utimesSync(dir, now, now);
    } catch {
      // A read-only install: nothing is pruned there either.
    }
    return entry;
  }
  const r = spawnSync(process.execPath, [join(root, 'bin', 'build.js'), root, stamp], { stdio: ['ignore', 'ignore', 'pipe'] });
  return r.status === 0 && existsSync(join(dir, 'BUILT')) ? entry : undefined;
}
