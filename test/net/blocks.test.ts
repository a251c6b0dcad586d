import { lpStream } from '@libp2p/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOCKS_PROTOCOL, BlockService, type BlockServiceComponents, LyingPeerError, type Want, reachedFrom, readInTurn } from '../../src/net/blocks.ts';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { type Id, idKey, idOf } from '../../src/store/id.ts';
import { EMPTY_NODE } from '../../src/tree/node.ts';
import { eventually, member, quiet } from './helpers.ts';

type Node = ClusterNode<{ blocks: BlockService }>;

describe('the block exchange', { timeout: 60_000 }, () => {
  const nodes: Node[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  /** A server holding `blocks`, serving the ids in `served`, and a client connected to it. */
  async function pair(blocks: Map<string, Uint8Array>, served: Set<string>, lie = false, gate?: Promise<void>, serveRate = 0): Promise<{ server: Node; client: Node }> {
    const cluster = newCluster();
    const getBlock = async (id: Id): Promise<Uint8Array | undefined> => {
      await gate;
      const b = blocks.get(idKey(id));
      return lie && b !== undefined ? Buffer.concat([b, Buffer.of(0)]) : b;
    };
    const service = (components: BlockServiceComponents): BlockService => new BlockService(components, {
      store: { getBlock, getBlocks: (ids: Id[]) => Promise.all(ids.map(getBlock)), getBlob: async () => undefined },
      isServed: (id: Id) => served.has(idKey(id)),
      logger: quiet,
      serveRate,
    });
    const server = await member(cluster, { blocks: service });
    const client = await member({ ...cluster, bootstrap: server.multiaddrs() }, { blocks: service });
    nodes.push(server, client);
    expect(await eventually(async () => client.libp2p.getConnections(server.peerId).length > 0)).toBe(true);
    return { server, client };
  }

  it('returns served blocks in order and NONE for the rest, present or not', async () => {
    const empty = Buffer.from('a block');
    const other = Buffer.from('not a node');
    const blocks = new Map([[idKey(idOf(empty)), empty], [idKey(idOf(other)), other]]);
    const { server, client } = await pair(blocks, new Set([idKey(idOf(empty))]));
    const got = await client.libp2p.services.blocks.client(server.peerId).fetch(
      [{ kind: 'node', id: idOf(other) }, { kind: 'node', id: idOf(empty) }, { kind: 'node', id: idOf(Buffer.from('absent')) }],
      AbortSignal.timeout(10_000),
    );
    expect(got.map((b) => (b === undefined ? undefined : Buffer.from(b.subarray()).toString('hex')))).toEqual([undefined, empty.toString('hex'), undefined]);
    expect(server.libp2p.services.blocks.served).toBe(1);
  });

  it('makes a peer over its send rate wait, and still answers it in full', async () => {
    const blocks = new Map<string, Uint8Array>();
    for (let i = 0; i < 6; i++) {
      const b = Buffer.alloc(1024 * 1024, i);
      blocks.set(idKey(idOf(b)), b);
    }
    // 1 MiB/s with a 2 MiB burst: 6 MiB cannot go out without waiting.
    const { server, client } = await pair(blocks, new Set(blocks.keys()), false, undefined, 1024 * 1024);
    const wants = [...blocks.values()].map((b) => ({ kind: 'node' as const, id: idOf(b) }));
    const got = await client.libp2p.services.blocks.client(server.peerId).fetch(wants, AbortSignal.timeout(30_000));
    expect(got.map((b) => b?.byteLength)).toEqual(wants.map(() => 1024 * 1024));
    expect(server.libp2p.services.blocks.throttled).toBeGreaterThan(0);
  });

  it('counts transfers in flight on both sides while a want-list is answered, and the bytes moved', async () => {
    const block = Buffer.from('a block held back');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { server, client } = await pair(new Map([[idKey(idOf(block)), block]]), new Set([idKey(idOf(block))]), false, gate);
    const [sb, cb] = [server.libp2p.services.blocks, client.libp2p.services.blocks];
    const fetching = cb.client(server.peerId).fetch([{ kind: 'node', id: idOf(block) }], AbortSignal.timeout(10_000));
    expect(await eventually(async () => sb.serving === 1)).toBe(true);
    expect(cb.fetching).toBe(1);
    release();
    expect((await fetching).map((b) => b && Buffer.from(b.subarray()).toString())).toEqual([block.toString()]);
    expect(await eventually(async () => sb.serving === 0)).toBe(true);
    expect(cb.fetching).toBe(0);
    expect([sb.served, sb.servedBytes, cb.fetched, cb.fetchedBytes]).toEqual([1, block.length, 1, block.length]);
  });

  it('throws LyingPeerError for a block that does not match its id, and drops the peer', async () => {
    const empty = Buffer.from('a block');
    const { server, client } = await pair(new Map([[idKey(idOf(empty)), empty]]), new Set([idKey(idOf(empty))]), true);
    const c = client.libp2p.services.blocks.client(server.peerId);
    await expect(c.fetch([{ kind: 'node', id: idOf(empty) }], AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(LyingPeerError);
    expect(c.closed).toBe(true);
  });

  it('checks blocks in many pieces (hashed in place) and past 4 MiB (on the thread pool): bad ones are refused, good ones arrive whole', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    const other = Buffer.alloc(200 * 1024, 9);
    const blocks = new Map([[idKey(idOf(big)), big], [idKey(idOf(other)), other]]);
    const honest = await pair(blocks, new Set(blocks.keys()));
    const got = await honest.client.libp2p.services.blocks.client(honest.server.peerId).fetch(
      [{ kind: 'node', id: idOf(big) }, { kind: 'node', id: idOf(other) }],
      AbortSignal.timeout(10_000),
    );
    expect(got.map((b) => b !== undefined && Buffer.from(b.subarray()).equals(b.byteLength === big.length ? big : other))).toEqual([true, true]);
    const liar = await pair(blocks, new Set(blocks.keys()), true);
    const c = liar.client.libp2p.services.blocks.client(liar.server.peerId);
    await expect(c.fetch([{ kind: 'node', id: idOf(other) }], AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(LyingPeerError);
    expect(c.closed).toBe(true);
    const again = liar.client.libp2p.services.blocks.client(liar.server.peerId);
    await expect(again.fetch([{ kind: 'node', id: idOf(big) }], AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(LyingPeerError);
    expect(again.closed).toBe(true);
  });

  it('resets a stream that sends a malformed want-list', async () => {
    const { server, client } = await pair(new Map(), new Set());
    const stream = await client.libp2p.dialProtocol(server.peerId, BLOCKS_PROTOCOL, { signal: AbortSignal.timeout(10_000) });
    const lp = lpStream(stream);
    await lp.write(Buffer.of(0x01, 0x00, 0x00), { signal: AbortSignal.timeout(10_000) });
    await expect(lp.read({ signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
  });

  it('reads in order: runs of nodes in batches of at most 256, each blob alone and handed over before the next read', async () => {
    const id = (i: number): Id => idOf(Buffer.from(String(i)));
    const wants: Want[] = Array.from({ length: 700 }, (_, i) => ({ kind: i === 300 || i === 301 ? 'blob' : 'node', id: id(i) }));
    const reads: string[] = [];
    const seen: number[] = [];
    const name = new Map(wants.map((w, i) => [idKey(w.id), i]));
    const store = {
      getBlock: async () => undefined,
      getBlocks: async (ids: Id[]) => {
        reads.push(`nodes ${ids.length} after ${seen.length}`);
        return ids.map((x) => Buffer.from(String(name.get(idKey(x)))));
      },
      getBlob: async (x: Id) => {
        reads.push(`blob after ${seen.length}`);
        return name.get(idKey(x)) === 301 ? undefined : Buffer.from('blob');
      },
    };
    await readInTurn(store, wants, (w, bytes) => seen.push(bytes === undefined ? -1 : (name.get(idKey(w.id)) as number)));
    expect(reads).toEqual(['nodes 256 after 0', 'nodes 44 after 256', 'blob after 300', 'blob after 301', 'nodes 256 after 302', 'nodes 142 after 558']);
    expect(seen).toEqual(wants.map((_, i) => (i === 301 ? -1 : i)));
  });

  it('finds nothing below an empty node or a blob without links', () => {
    expect(reachedFrom('blob', Buffer.from('no links here'), idOf(Buffer.alloc(0)))).toEqual([]);
    expect(reachedFrom('node', EMPTY_NODE.bytes, EMPTY_NODE.id)).toEqual([]);
  });
});
