import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliFailure, EXIT } from './exit.ts';

/**
 * Expand an argument that names a tree or id. `*file.yaml#Field` reads the field from a YAML file
 * here, on the client, since the daemon may not see the same files; `^variable`, `""` and `nil`
 * pass through untouched because the daemon resolves those itself.
 */
export async function substituteId(arg: string, cwd: string = process.cwd()): Promise<string> {
  if (!arg.startsWith('*')) return arg;
  const hash = arg.lastIndexOf('#');
  if (hash < 2 || hash === arg.length - 1) {
    throw new CliFailure(EXIT.usage, `"${arg}": expected *FILE#FIELD, e.g. *clusters/home.yaml#Name`);
  }
  const file = resolve(cwd, arg.slice(1, hash));
  const field = arg.slice(hash + 1);
  // Loaded on demand: most invocations never read a YAML file, and every one pays for imports.
  const { parse } = await import('yaml');
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliFailure(EXIT.usage, `"${arg}": cannot read ${file}: ${(e as Error).message}`);
  }
  const value = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>)[field] : undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return String(value);
  const problem = value === undefined ? 'has no field' : 'has no text value in field';
  throw new CliFailure(EXIT.usage, `"${arg}": ${file} ${problem} "${field}"`);
}
