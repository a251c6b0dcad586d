import { fileURLToPath } from 'node:url';

/** The checkout the tests run in. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The project's pinned Node 22 (the system one may be too old for type stripping). */
export const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/crisscross.js', import.meta.url));

/** This process's environment without CRISSCROSS_* settings, so a developer's shell cannot leak into a test. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CRISSCROSS_')) env[k] = v;
  return env;
}
