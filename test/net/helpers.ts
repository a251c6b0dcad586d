import { pino } from 'pino';
import type { ServiceMap } from '@libp2p/interface';
import type { Cluster } from '../../src/net/cluster-file.ts';
import { newSecret } from '../../src/net/identity.ts';
import { ClusterNode, type ServiceFactories } from '../../src/net/node.ts';

export const quiet = pino({ level: 'silent' });

/** An in-process member on 127.0.0.1 with a fresh node secret. */
export function member<S extends ServiceMap = ServiceMap>(cluster: Cluster, services?: ServiceFactories<S>): Promise<ClusterNode<S>> {
  return ClusterNode.start<S>({ cluster, nodeSecret: newSecret(), host: '127.0.0.1', port: 0, logger: quiet, ...(services ? { services } : {}) });
}

/** Retries `attempt` (each bounded by its own signal) until it returns true, at most `rounds` times. */
export async function eventually(attempt: (signal: AbortSignal) => Promise<boolean>, rounds = 40, each = 2000): Promise<boolean> {
  for (let i = 0; i < rounds; i++) {
    try {
      if (await attempt(AbortSignal.timeout(each))) return true;
    } catch {
      // A query that timed out or found nothing yet: the next round tries again.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
