import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import type { BlockStore } from '../store/blockstore.ts';
import { type Id, idKey, idToText } from '../store/id.ts';
import { type BlockStoreReader, type Want, reachedFrom, readInTurn } from './blocks.ts';
import type { Network, Node } from './network.ts';
import type { ClusterNode } from './node.ts';
import { PushRefused, type PushRequest, newPushRequest, signPush } from './push-message.ts';
import type { PushReceiver } from './push.ts';
import { BlockCache, Providers, RemoteSource, clone } from './remote.ts';

/** How many of the closest peers a push asks. */
export const PUSH_PEERS = 3;
/** Providers a receiver clones from at once (the pusher first). */
const PUSH_PROVIDERS = 4;
const LOOKUP_TIMEOUT_MS = 30_000;
/** A whole push, every receiver's clone included. */
const PUSH_TIMEOUT_MS = 30 * 60_000;

/** What a push states as the tree's size: the bytes of every distinct block the root reaches, links included. */
export async function treeSize(store: BlockStoreReader, root: Id): Promise<number> {
  const seen = new Set<string>([`node:${idKey(root)}`]);
  let frontier: Want[] = [{ kind: 'node', id: root }];
  let size = 0;
  // Each block enters the frontier once (seen), so the walk ends.
  while (frontier.length > 0) {
    const next: Want[] = [];
    await readInTurn(store, frontier, (w, bytes) => {
      if (bytes === undefined) throw new CrissError('MISSINGBLOCK', `block ${idToText(w.id)} of ${idToText(root)} is not here: push a tree held whole`);
      size += bytes.length;
      for (const r of reachedFrom(w.kind, bytes, w.id)) {
        const key = `${r.kind}:${idKey(r.id)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        next.push(r);
      }
    });
    frontier = next;
  }
  return size;
}

/** Up to `k` peers closest to `key` in the cluster's DHT keyspace, by an iterative lookup, this node excluded. */
export async function closestPeers(node: ClusterNode, key: Uint8Array, k: number, signal: AbortSignal): Promise<PeerId[]> {
  const self = node.peerId.toString();
  const found = new Map<string, PeerId>();
  // FINAL_PEER events come last, nearest first: the peers that answered the lookup.
  for await (const e of node.libp2p.services.dht.getClosestPeers(key, { signal })) {
    if (e.name === 'FINAL_PEER' && e.peer.id.toString() !== self) found.set(e.peer.id.toString(), e.peer.id);
  }
  return [...found.values()].slice(0, k);
}

/** The cluster's PrivateKey, which signs pushes; NOKEY when this node's file lacks it. */
export function pushKey(node: Node): Buffer {
  const key = node.cluster.privateKey;
  if (key === undefined) throw new CrissError('NOKEY', `this node's file for cluster ${node.cluster.name} has no PrivateKey: only holders of the cluster's PrivateKey can push`);
  return key;
}

/**
 * Asks the `k` peers closest to `root` to store it for `ttlMs`, each with its own signed
 * request (the cluster's PrivateKey is needed) stating `size` (`treeSize`). This node must
 * serve the tree (the caller announces it): receivers clone from it first. Resolves with how
 * many accepted.
 */
export async function pushTree(net: Network, cluster: string, root: Id, ttlMs: number, size: number, logger: Logger, k = PUSH_PEERS): Promise<{ asked: number; accepted: number }> {
  const node = net.node(cluster);
  const key = pushKey(node);
  const signal = AbortSignal.timeout(PUSH_TIMEOUT_MS);
  const peers = await closestPeers(node, root, k, AbortSignal.any([signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)]));
  const text = idToText(root);
  const log = logger.child({ cluster, root: text });
  log.info({ size, ttl: ttlMs, peers: peers.map((p) => p.toString()) }, 'push sent');
  const outcomes = await Promise.all(peers.map(async (peer) => {
    const o = await node.libp2p.services.push.send(peer, signPush(newPushRequest(cluster, root, ttlMs, size), key), signal);
    if (o.accepted) log.info({ remote: peer.toString(), bytes: o.bytes }, 'push accepted');
    else log.info({ remote: peer.toString(), reason: o.reason, err: o.message }, 'push refused');
    return o.accepted;
  }));
  const accepted = outcomes.filter(Boolean).length;
  log.info({ asked: peers.length, accepted, size }, 'push finished');
  return { asked: peers.length, accepted };
}

/**
 * The receiving end of an admitted push: clones the tree from the pusher and other providers
 * with a byte budget of the size the pusher signed and MaxAcceptedSize, whichever is smaller
 * (aborting the moment a fetched block exceeds it), pins it only once it is whole, then
 * announces it for the TTL.
 */
export class PushHost implements PushReceiver {
  private readonly net: Network;
  private readonly store: BlockStore;
  private readonly logger: Logger;

  constructor(net: Network, store: BlockStore, logger: Logger) {
    this.net = net;
    this.store = store;
    this.logger = logger;
  }

  async receive(request: PushRequest, from: PeerId, progress: { bytes: number }, signal: AbortSignal): Promise<{ bytes: number }> {
    const { cluster, root } = request;
    // Admission checked the stated size against the limit already; the limit bounds the transfer too, whatever was stated.
    const limit = Math.min(request.size, this.net.node(cluster).cluster.maxAcceptedSize);
    const budget = new AbortController();
    const onBlock = (n: number): void => {
      progress.bytes += n;
      if (progress.bytes > limit && !budget.signal.aborted) {
        budget.abort(new PushRefused('OVERSIZE', `fetched ${progress.bytes} bytes, more than the ${limit} allowed (the push stated ${request.size})`));
      }
    };
    const stop = AbortSignal.any([signal, budget.signal]);
    const providers = new Providers(this.net, cluster, root, PUSH_PROVIDERS, this.logger, { first: [from], signal: stop, onBlock });
    // A cache of its own: every block not held here is fetched, so every one is counted.
    const source = new RemoteSource(this.store, providers, new BlockCache());
    const until = Date.now() + request.ttlMs;
    await clone(this.store, source, root, until, { pinLast: true, signal: stop });
    try {
      await this.net.announce(cluster, root, until);
    } catch (err) {
      // Pinned and served already; only the provider record is missing, and it is retried as peers connect.
      this.logger.info({ cluster, root: idToText(root), err: (err as Error).message }, 'providing a pushed tree failed');
    }
    return { bytes: progress.bytes };
  }
}
