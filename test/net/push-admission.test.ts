import { afterAll, describe, expect, it } from 'vitest';
import { newCluster } from '../../src/net/cluster-file.ts';
import type { ClusterNode } from '../../src/net/node.ts';
import { newPushRequest, signPush } from '../../src/net/push-message.ts';
import { type PushReceiver, type PushService, pushService } from '../../src/net/push.ts';
import { idOf } from '../../src/store/id.ts';
import { member, quiet } from './helpers.ts';

/** A receiver that holds every push until released: enough to see what admission does while pushes are in flight. */
class HeldReceiver implements PushReceiver {
  private entered = 0;
  private readonly arrivals: Array<() => void> = [];
  private release!: () => void;
  private readonly released = new Promise<void>((r) => (this.release = r));

  async receive(): Promise<{ bytes: number }> {
    this.arrivals[this.entered++]?.();
    await this.released;
    return { bytes: 7 };
  }

  /** Resolves once the n-th push (1-based) is being received. */
  until(n: number): Promise<void> {
    if (this.entered >= n) return Promise.resolve();
    return new Promise((r) => (this.arrivals[n - 1] = r));
  }

  open(): void {
    this.release();
  }
}

describe('push admission while pushes are in flight', { timeout: 60_000 }, () => {
  const nodes: ClusterNode[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('a third concurrent push is refused BUSY; the two in flight are accepted', async () => {
    const cluster = newCluster();
    const held = new HeldReceiver();
    const rx = await member(cluster, { push: pushService({ cluster, logger: quiet, receiver: held }) });
    const tx = await member({ ...cluster, bootstrap: rx.multiaddrs() }, { push: pushService({ cluster, logger: quiet }) });
    nodes.push(rx, tx);
    await tx.libp2p.dial(rx.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) });
    const send = (root: string): ReturnType<PushService['send']> =>
      tx.libp2p.services.push.send(rx.peerId, signPush(newPushRequest(cluster.name, idOf(Buffer.from(root)), 1000, 10), cluster.privateKey as Buffer), AbortSignal.timeout(30_000));
    const first = [send('one'), send('two')];
    await held.until(2);
    expect(await send('three')).toMatchObject({ accepted: false, reason: 'BUSY' });
    held.open();
    expect(await Promise.all(first)).toEqual([{ accepted: true, bytes: 7 }, { accepted: true, bytes: 7 }]);
    expect(rx.libp2p.services.push.accepted).toBe(2);
    expect(rx.libp2p.services.push.refused).toBe(1);
  });
});
