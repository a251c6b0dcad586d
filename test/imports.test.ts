import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Every module under src and the relative modules it imports, type-only imports included. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const path = join(SRC, file);
    const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    const deps = importedFiles.map((i) => i.fileName).filter((n) => n.startsWith('.')).map((n) => resolve(dirname(path), n));
    graph.set(path, deps);
  }
  return graph;
}

/** Each cycle found by a depth-first search, as the chain of modules that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (m: string): void => {
    state.set(m, 'open');
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (state.get(d) === undefined) visit(d);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of [...graph.keys()].sort()) if (state.get(m) === undefined) visit(m);
  return found;
}

describe('the module graph of src', () => {
  it('sees the imports (the check below is real)', () => {
    const graph = importGraph();
    expect(graph.get(join(SRC, 'tree/node.ts'))).toContain(join(SRC, 'store/id.ts'));
    expect(cycles(new Map([['a', ['b']], ['b', ['c', 'a']], ['c', []]]))).toEqual([['a', 'b', 'a']]);
  });

  it('has no import cycles, type-only imports included', () => {
    expect(cycles(importGraph()).map((c) => c.map((m) => relative(SRC, m)).join(' → '))).toEqual([]);
  });
});
