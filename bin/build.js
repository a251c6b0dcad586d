// `node bin/build.js <root> <stamp>`: writes <root>/dist/<stamp>/, the sources with their types
// stripped (positions kept, so stack traces point at the same lines of src/) and relative
// `.ts` imports renamed `.js`. Written to a temporary directory, then renamed into place:
// builders racing each other (tests starting many daemons) agree, and a reader never sees
// half a build.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join, relative, resolve } from 'node:path';

/** Static imports and re-exports (`from '…'`, `import '…'`) and dynamic `import('…')` of a relative .ts file. */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"\n]*?)\.ts\2/g;
/** Any relative .ts path left in a string after that: a reference the build cannot follow. */
const LEFT = /(['"`])\.\.?\/[^'"`\n]*\.ts\1/;
/** Builds kept, the most recently used first: a daemon started from an older one still loads modules from it lazily. */
const KEEP = 3;
/** A temporary directory this old is a builder that died: removed. */
const ABANDONED_MS = 10 * 60 * 1000;

function buildInto(src, out) {
  const refused = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(src, path);
      if (entry.isDirectory()) {
        mkdirSync(join(out, rel), { recursive: true });
        walk(path);
      } else if (entry.isFile() && entry.name.endsWith('.ts')) {
        const code = stripTypeScriptTypes(readFileSync(path, 'utf8'), { mode: 'strip' }).replace(SPECIFIER, '$1$2$3.js$2');
        if (LEFT.test(code)) refused.push(rel);
        writeFileSync(join(out, rel.slice(0, -3) + '.js'), code);
      } else if (entry.isFile()) copyFileSync(path, join(out, rel));
    }
  };
  mkdirSync(out, { recursive: true });
  walk(src);
  return refused;
}

const [root, stamp] = process.argv.slice(2);
if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename && root !== undefined && stamp !== undefined) {
  const dist = join(root, 'dist');
  const tmp = join(dist, `.${stamp}.${process.pid}`);
  try {
    const refused = buildInto(join(root, 'src'), join(tmp, 'src'));
    if (refused.length > 0) throw new Error(`a relative .ts path the build cannot rewrite is left in ${refused.join(', ')}`);
    // src/config.ts reads ../package.json for the version.
    copyFileSync(join(root, 'package.json'), join(tmp, 'package.json'));
    writeFileSync(join(tmp, 'BUILT'), `${stamp}\n`);
    try {
      renameSync(tmp, join(dist, stamp));
    } catch (e) {
      // Another builder finished the same stamp first: its build is this one.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    }
    prune(dist);
  } catch (e) {
    process.stderr.write(`crisscross build: ${e.message}\n`);
    process.exitCode = 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function prune(dist) {
  const all = readdirSync(dist).map((name) => ({ name, at: statSync(join(dist, name)).mtimeMs }));
  const builds = all.filter((b) => !b.name.startsWith('.')).sort((a, b) => b.at - a.at);
  const abandoned = all.filter((b) => b.name.startsWith('.') && b.at < Date.now() - ABANDONED_MS);
  for (const old of [...builds.slice(KEEP), ...abandoned]) rmSync(join(dist, old.name), { recursive: true, force: true });
}

