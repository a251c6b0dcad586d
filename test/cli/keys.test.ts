import { describe, expect, it } from 'vitest';
import { parseCluster } from '../../src/net/cluster-file.ts';
import { cli } from '../harness/run.ts';

describe('cluster, keypair and node_secret (no daemon needed)', () => {
  it('cluster prints a definition the daemon accepts, with a Name that checks out', async () => {
    const out = await cli(['cluster']);
    expect(out.code).toBe(0);
    const cluster = parseCluster(out.stdout.toString());
    expect(out.stdout.toString()).toContain(`Name: ${cluster.name}`);
    expect(cluster.privateKey).toBeDefined();
  });

  it('keypair and node_secret print fresh values each time', async () => {
    const [a, b] = await Promise.all([cli(['keypair']), cli(['keypair'])]);
    expect(a.stdout.toString()).toMatch(/^Name: \w+\nPublicKey: \w+\nPrivateKey: \w+\n$/);
    expect(a.stdout.toString()).not.toBe(b.stdout.toString());
    expect((await cli(['node_secret'])).stdout.toString()).toMatch(/^NodeSecret: \w+\n$/);
  });
});
