import { CrissError } from '../errors.ts';
import type { Network } from '../net/network.ts';
import { DEFAULT_MAX_CONNECTIONS } from '../net/tunnel-allow.ts';
import { MAX_PASSPHRASE_BYTES, nameBytes, validHost } from '../net/tunnel-wire.ts';
import type { ReplyWriter } from '../resp/reply.ts';
import { intArg } from './args.ts';
import { clusterArg, networkOf } from './cluster-net.ts';
import type { ArgumentDoc, CommandSpec } from './spec.ts';

const TOKEN: ArgumentDoc = { name: 'token', type: 'string' };
const CLUSTER: ArgumentDoc = { name: 'cluster', type: 'string' };
const NAME: ArgumentDoc = { name: 'name', type: 'string', display_text: 'key Name' };
const PASSPHRASE: ArgumentDoc = { name: 'passphrase', type: 'string' };
const HOST: ArgumentDoc = { name: 'host', type: 'string' };
const PORT: ArgumentDoc = { name: 'port', type: 'integer' };
const LOCAL_PORT: ArgumentDoc = { name: 'local_port', type: 'integer' };
const MAX_CONNS: ArgumentDoc = { name: 'max_connections', type: 'integer', optional: true };
const MAX_CONNECTIONS = 65_536;

function text(arg: Uint8Array): string {
  return Buffer.from(arg).toString('utf8');
}

function nameArg(arg: Uint8Array): string {
  const name = Buffer.from(arg).toString('latin1');
  nameBytes(name);
  return name;
}

function hostArg(arg: Uint8Array): string {
  const host = text(arg);
  if (!validHost(host)) throw new CrissError('ERR', 'host must be 1 to 253 bytes without spaces or control characters');
  return host;
}

function passphraseArg(arg: Uint8Array): string {
  if (arg.length < 1 || arg.length > MAX_PASSPHRASE_BYTES) throw new CrissError('ERR', `passphrase must be 1 to ${MAX_PASSPHRASE_BYTES} bytes`);
  return text(arg);
}

function portArg(arg: Uint8Array, what = 'port'): number {
  return intArg(arg, what, 1, 65535);
}

function fields(reply: ReplyWriter, pairs: Array<[string, string | number]>): void {
  reply.map(pairs.length);
  for (const [k, v] of pairs) {
    reply.bulk(k);
    if (typeof v === 'number') reply.integer(v);
    else reply.bulk(v);
  }
}

/** TUNNEL*: serving TCP services to cluster members and reaching theirs (docs/tunnel-protocol.md). */
export function tunnelCommands(deps: { net: Network | undefined }): CommandSpec[] {
  return [
    {
      name: 'TUNNELANNOUNCE', arity: 3, flags: ['write'], group: 'tunnel', since: '0.4.0',
      summary: 'Provides a tunnel Name on the cluster\'s DHT; this daemon then proves its key to clients. The key pair must be in the keys dir.',
      arguments: [CLUSTER, NAME],
      reply: 'Simple string OK. The announcement survives restarts. NOKEY when the keys dir has no key pair of that Name.',
      handler: async (ctx) => {
        const net = networkOf(deps);
        const cluster = clusterArg(deps, ctx.args[0]);
        const name = nameArg(ctx.args[1]);
        const node = net.node(cluster);
        await net.tunnels.requireKey(name);
        await net.tunnels.allow.announce(cluster, name);
        await node.libp2p.services.tunnels.provide(name);
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'TUNNELALLOW', arity: -7, flags: ['write'], group: 'tunnel', since: '0.4.0',
      summary: 'Lets clients that know the passphrase reach host:port through the tunnel Name (needs TUNNEL_TOKEN); again on an entry replaces its passphrase and limit.',
      arguments: [TOKEN, CLUSTER, NAME, PASSPHRASE, HOST, PORT, MAX_CONNS],
      reply: `Simple string OK. The entry (passphrase hashed) survives restarts; at most max_connections (default ${DEFAULT_MAX_CONNECTIONS}) connections at once. NOPERM without TUNNEL_TOKEN or with another token.`,
      handler: async (ctx) => {
        if (ctx.args.length > 7) throw new CrissError('ERR', 'TUNNELALLOW takes at most 7 arguments');
        const net = networkOf(deps);
        net.tunnels.checkToken(ctx.args[0]);
        const cluster = clusterArg(deps, ctx.args[1]);
        const name = nameArg(ctx.args[2]);
        const passphrase = passphraseArg(ctx.args[3]);
        const host = hostArg(ctx.args[4]);
        const port = portArg(ctx.args[5]);
        const max = ctx.args[6] === undefined ? DEFAULT_MAX_CONNECTIONS : intArg(ctx.args[6], 'max_connections', 1, MAX_CONNECTIONS);
        net.node(cluster);
        await net.tunnels.requireKey(name);
        await net.tunnels.allow.allow(cluster, name, host, port, passphrase, max);
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'TUNNELDISALLOW', arity: 6, flags: ['write'], group: 'tunnel', since: '0.4.0',
      summary: 'Removes an allow-list entry and cuts the connections open through it (needs TUNNEL_TOKEN).',
      arguments: [TOKEN, CLUSTER, NAME, HOST, PORT],
      reply: 'Integer: 1 if the entry existed, 0 otherwise.',
      handler: async (ctx) => {
        const net = networkOf(deps);
        net.tunnels.checkToken(ctx.args[0]);
        const removed = await net.tunnels.allow.disallow(clusterArg(deps, ctx.args[1]), nameArg(ctx.args[2]), hostArg(ctx.args[3]), portArg(ctx.args[4]));
        ctx.reply.integer(removed ? 1 : 0);
      },
    },
    {
      name: 'TUNNELOPEN', arity: 7, flags: ['write', 'blocking'], group: 'tunnel', since: '0.4.0',
      summary: 'Listens on 127.0.0.1:local_port and carries each connection to host:port behind a cluster peer that proves the key of the tunnel Name.',
      arguments: [CLUSTER, NAME, PASSPHRASE, LOCAL_PORT, HOST, PORT],
      reply: 'Simple string OK once a serving peer accepted a check handshake. NOPROVIDER when no peer proved the key; REFUSED, NOTALLOWED, LIMIT or UNREACHABLE as that peer answered.',
      handler: async (ctx) => {
        const net = networkOf(deps);
        const cluster = clusterArg(deps, ctx.args[0]);
        const name = nameArg(ctx.args[1]);
        const passphrase = passphraseArg(ctx.args[2]);
        const localPort = portArg(ctx.args[3], 'local_port');
        const host = hostArg(ctx.args[4]);
        const port = portArg(ctx.args[5]);
        net.node(cluster);
        await net.tunnels.open({ cluster, name, passphrase, localPort, host, port, service: () => net.node(cluster).libp2p.services.tunnels });
        ctx.reply.simple('OK');
      },
    },
    {
      name: 'TUNNELCLOSE', arity: 2, flags: ['write'], group: 'tunnel', since: '0.4.0',
      summary: 'Stops the tunnel listening on local_port and cuts its open connections.',
      arguments: [LOCAL_PORT],
      reply: 'Integer: 1 if a tunnel listened there, 0 otherwise.',
      handler: async (ctx) => {
        ctx.reply.integer((await networkOf(deps).tunnels.close(portArg(ctx.args[0], 'local_port'))) ? 1 : 0);
      },
    },
    {
      name: 'TUNNELLIST', arity: 1, flags: ['readonly'], group: 'tunnel', since: '0.4.0',
      summary: 'Lists the tunnels this daemon opened, announced and allows.',
      arguments: [],
      reply: 'Map: open → array of maps (local_port, cluster, name, host, port, connections, bytes_sent, bytes_received); announced → array of maps (cluster, name); allowed → array of maps (cluster, name, host, port, max_connections, connections). Passphrases are never shown.',
      handler: (ctx) => {
        const t = networkOf(deps).tunnels;
        const open = t.listening();
        const announced = t.allow.allAnnounced();
        const allowed = t.allow.list();
        ctx.reply.map(3);
        ctx.reply.bulk('open');
        ctx.reply.array(open.length);
        for (const l of open) {
          fields(ctx.reply, [
            ['local_port', l.localPort], ['cluster', l.target.cluster], ['name', l.target.name], ['host', l.target.host], ['port', l.target.port],
            ['connections', l.counters.active], ['bytes_sent', l.counters.sent], ['bytes_received', l.counters.received],
          ]);
        }
        ctx.reply.bulk('announced');
        ctx.reply.array(announced.length);
        for (const a of announced) fields(ctx.reply, [['cluster', a.cluster], ['name', a.name]]);
        ctx.reply.bulk('allowed');
        ctx.reply.array(allowed.length);
        for (const e of allowed) {
          fields(ctx.reply, [['cluster', e.cluster], ['name', e.name], ['host', e.host], ['port', e.port], ['max_connections', e.maxConnections], ['connections', t.allow.connections(e)]]);
        }
      },
    },
  ];
}
