import { CrissError } from '../errors.ts';
import { type Cluster, clusterName } from './cluster-file.ts';
import { framed, sha256 } from './identity.ts';

/** What every cluster argument accepts for the default overlay. */
export const DEFAULT_CLUSTER = '^defaultcluster';

/**
 * The default overlay's Cypher and PublicKey (docs/format.md §15): tagged hashes of nothing,
 * so every crisscross node derives the same ones. The Cypher is public on purpose; no one
 * knows a private key for a public key that is a hash output, so no one can sign for it.
 */
export const OVERLAY_CYPHER = sha256(framed('crisscross/default-overlay-cypher/v1'));
export const OVERLAY_PUBLIC_KEY = sha256(framed('crisscross/default-overlay-public-key/v1'));
export const OVERLAY_NAME = clusterName(OVERLAY_CYPHER, OVERLAY_PUBLIC_KEY);

/**
 * The default overlay as a cluster: for discovery, announcements and rendezvous only. No
 * PrivateKey, and MaxTTL and MaxAcceptedSize 0, so it grants no storage request.
 */
export function overlayCluster(bootstrap: string[], port?: number): Cluster {
  return {
    name: OVERLAY_NAME,
    cypher: OVERLAY_CYPHER,
    publicKey: OVERLAY_PUBLIC_KEY,
    maxTtlMs: 0,
    maxAcceptedSize: 0,
    bootstrap,
    ...(port !== undefined && port !== 0 ? { port } : {}),
  };
}

export function isOverlay(c: Cluster): boolean {
  return c.name === OVERLAY_NAME;
}

/** A cluster argument as given (a Name or `^defaultcluster`) → the cluster's Name. */
export function clusterNameOf(arg: string, overlayOn: boolean): string {
  if (arg !== DEFAULT_CLUSTER) return arg;
  if (!overlayOn) throw new CrissError('NOCLUSTER', 'the default overlay is off on this daemon (--overlay off)');
  return OVERLAY_NAME;
}
