import { lpStream } from '@libp2p/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { PUBSUB_PROTOCOL, type PubsubService, pubsubService } from '../../src/net/pubsub.ts';
import { STREAM_PROTOCOL, type StreamService, streamService } from '../../src/net/streams.ts';
import { StreamHub } from '../../src/pubsub/stream.ts';
import { member, quiet } from './helpers.ts';

type Services = { pubsub: PubsubService; streams: StreamService };

/** A pubsub message frame as docs/pubsub.md defines it. */
function message(id: number, hops: number, channel: string, payload: string): Buffer {
  const c = Buffer.from(channel);
  const head = Buffer.alloc(22);
  head[0] = 0x01;
  head.writeUInt32BE(id, 1);
  head[17] = hops;
  head.writeUInt32BE(c.length, 18);
  return Buffer.concat([head, c, Buffer.from(payload)]);
}

describe('pubsub and stream protocols against a peer that breaks them', { timeout: 60_000 }, () => {
  const cluster = newCluster();
  const heard: string[] = [];
  let a: ClusterNode<Services>;
  let rogue: ClusterNode;

  beforeAll(async () => {
    a = await member<Services>(cluster, {
      pubsub: pubsubService({ deliver: (c, p) => heard.push(`${Buffer.from(c)}:${Buffer.from(p)}`), logger: quiet }),
      streams: streamService({ hub: new StreamHub(quiet), logger: quiet }),
    });
    rogue = await member(cluster);
    await rogue.libp2p.dial(a.libp2p.getMultiaddrs()[0]);
  });
  afterAll(async () => {
    await rogue?.stop();
    await a?.stop();
  });

  const open = async (protocol: string) => {
    const s = await rogue.libp2p.dialProtocol(a.peerId, protocol, { signal: AbortSignal.timeout(5000) });
    return { s, lp: lpStream(s, { maxDataLength: 9 * 1024 * 1024 }) };
  };

  it('delivers a message id once, however often it arrives', async () => {
    const { lp, s } = await open(PUBSUB_PROTOCOL);
    await lp.writeV([message(1, 0, 'ch', 'one'), message(1, 0, 'ch', 'one'), message(2, 3, 'ch', 'two')]);
    await s.close();
    for (let i = 0; i < 100 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(heard).toEqual(['ch:one', 'ch:two']);
  });

  it('resets a stream that sends a malformed frame, and keeps serving others', async () => {
    for (const bad of [Buffer.of(0x09), Buffer.of(0x01, 1, 2), (() => { const m = message(3, 0, 'ch', ''); m.writeUInt32BE(1000, 18); return m; })()]) {
      const { lp, s } = await open(PUBSUB_PROTOCOL);
      await lp.write(bad);
      await expect((async () => { for await (const _ of s) { /* drained until reset */ } })()).rejects.toThrow();
    }
    const { lp, s } = await open(PUBSUB_PROTOCOL);
    await lp.write(message(4, 0, 'ch', 'after'));
    await s.close();
    for (let i = 0; i < 100 && heard.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(heard).toEqual(['ch:one', 'ch:two', 'ch:after']);
  });

  it('refuses a stream to a service with no worker, and resets one that does not start with START', async () => {
    const { lp } = await open(STREAM_PROTOCOL);
    await lp.write(Buffer.concat([Buffer.of(0x01), Buffer.from('nobody')]));
    const answer = (await lp.read({ signal: AbortSignal.timeout(5000) })).subarray();
    expect(answer[0]).toBe(0x03);
    expect(Buffer.from(answer.subarray(1)).toString()).toMatch(/no worker/);
    const bad = await open(STREAM_PROTOCOL);
    await bad.lp.write(Buffer.of(0x04, 0, 0, 0, 1));
    await expect(bad.lp.read({ signal: AbortSignal.timeout(5000) })).rejects.toThrow();
  });
});
