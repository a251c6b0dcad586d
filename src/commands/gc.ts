import type { Collector, GcReport } from '../gc/collector.ts';
import { idToText } from '../store/id.ts';
import { type TreeDeps, ttlArg } from './args.ts';
import type { CommandSpec } from './spec.ts';
import { rootOf } from './args.ts';

export interface GcDeps extends TreeDeps {
  collector: Collector;
}

const FIELDS: Array<[string, keyof GcReport]> = [
  ['roots', 'roots'],
  ['marked_blocks', 'markedBlocks'],
  ['live_bytes', 'liveBytes'],
  ['freed_blocks', 'freedBlocks'],
  ['freed_bytes', 'freedBytes'],
  ['freed_blob_bytes', 'freedBlobBytes'],
  ['freed_pins', 'freedPins'],
  ['segments_compacted', 'segmentsCompacted'],
  ['missing_blocks', 'missing'],
  ['duration_ms', 'durationMs'],
];

export function gcCommands(deps: GcDeps): CommandSpec[] {
  return [
    {
      name: 'GC', arity: 1, flags: ['write', 'blocking'], group: 'lifetime', since: '0.2.0',
      summary: 'Runs a garbage collection now: frees every block no live root reaches and returns the space to the filesystem.',
      arguments: [],
      reply: `Map of ${FIELDS.map(([f]) => f).join(', ')}. Live roots are pinned roots, roots written with TTL 0 within the grace period, and roots held by variables; links are followed.`,
      handler: async (ctx) => {
        const r = await deps.collector.run();
        ctx.reply.map(FIELDS.length);
        for (const [name, key] of FIELDS) {
          ctx.reply.bulk(name);
          ctx.reply.integer(r[key]);
        }
      },
    },
    {
      name: 'COMPACT', arity: 3, flags: ['write'], group: 'lifetime', since: '0.2.0',
      summary: 'Returns the tree\'s id, pinned for ttl ms: trees are always in canonical, compact form, so there is nothing to rewrite (GC reclaims space).',
      arguments: [{ name: 'tree', type: 'key', display_text: 'tree' }, { name: 'ttl', type: 'integer', display_text: 'ttl' }],
      reply: 'Bulk string: the same id, pinned like PERSIST.',
      handler: async (ctx) => {
        const ttl = ttlArg(ctx.args[1]);
        const root = await rootOf(deps, ctx.args[0]);
        await deps.trees.persist(root, ttl);
        ctx.reply.bulk(idToText(root.id));
      },
    },
  ];
}
