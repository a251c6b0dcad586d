import { Command } from 'commander';
import { clientCommand, examples, integer, withDaemon, write } from './common.ts';
import { substituteId } from './substitute.ts';

const CLUSTER_HELP = 'a cluster Name, or *clusters/file.yaml#Name';
const NAME_HELP = 'the tunnel Name (a key pair\'s Name), or *keys/file.yaml#Name';

function tunnelAnnounce(): Command {
  const cmd = new Command('tunnel_announce')
    .summary('serve a tunnel Name in a cluster')
    .description('Provide a tunnel Name on the cluster\'s DHT; this daemon proves the key to clients (its key pair must be in the daemon\'s keys dir). Kept across restarts.')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<name>', NAME_HELP)
    .action(async (cluster: string, name: string, _opts: unknown, self: Command) => {
      const args = [await substituteId(cluster), await substituteId(name)];
      await withDaemon(self, (c) => c.call('TUNNELANNOUNCE', ...args));
    });
  return examples(clientCommand(cmd), ['crisscross tunnel_announce ^defaultcluster "*keys/my_tunnel.yaml#Name"']);
}

function tunnelAllow(): Command {
  const cmd = new Command('tunnel_allow')
    .summary('let clients with a passphrase reach host:port through a tunnel')
    .description('Allow clients of the tunnel that know the passphrase to reach host:port from this daemon. Needs the daemon\'s TUNNEL_TOKEN. Kept across restarts (the passphrase hashed).')
    .argument('<token>', 'the daemon\'s TUNNEL_TOKEN')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<name>', NAME_HELP)
    .argument('<passphrase>', 'what clients must give')
    .argument('<host>', 'target host, as this daemon reaches it')
    .argument('<port>', 'target port')
    .option('--max-connections <n>', 'connections at once through this entry')
    .action(async (token: string, cluster: string, name: string, pass: string, host: string, port: string, opts: { maxConnections?: string }, self: Command) => {
      const args = [token, await substituteId(cluster), await substituteId(name), pass, host, port, ...(opts.maxConnections === undefined ? [] : [opts.maxConnections])];
      await withDaemon(self, (c) => c.call('TUNNELALLOW', ...args));
    });
  return examples(clientCommand(cmd), ['crisscross tunnel_allow 123 ^defaultcluster "*keys/my_tunnel.yaml#Name" SECRETPASS 127.0.0.1 8080']);
}

function tunnelDisallow(): Command {
  const cmd = new Command('tunnel_disallow')
    .summary('remove an allowed target and cut its connections')
    .description('Remove an allow-list entry; its open connections are cut. Needs the daemon\'s TUNNEL_TOKEN.')
    .argument('<token>', 'the daemon\'s TUNNEL_TOKEN')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<name>', NAME_HELP)
    .argument('<host>', 'target host')
    .argument('<port>', 'target port')
    .action(async (token: string, cluster: string, name: string, host: string, port: string, _opts: unknown, self: Command) => {
      const args = [token, await substituteId(cluster), await substituteId(name), host, port];
      const removed = await withDaemon(self, async (c) => integer(await c.call('TUNNELDISALLOW', ...args), 'TUNNELDISALLOW'));
      await write(removed === 1 ? 'removed\n' : 'no such entry\n');
    });
  return examples(clientCommand(cmd), ['crisscross tunnel_disallow 123 ^defaultcluster "*keys/my_tunnel.yaml#Name" 127.0.0.1 8080']);
}

function tunnelOpen(): Command {
  const cmd = new Command('tunnel_open')
    .summary('listen on a local port, reaching host:port behind a cluster peer')
    .description('Make the daemon listen on 127.0.0.1:<local_port> and carry each connection to <host>:<port> behind the cluster peer that proves the tunnel Name\'s key and accepts the passphrase.')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<name>', NAME_HELP)
    .argument('<passphrase>', 'the tunnel\'s passphrase')
    .argument('<local_port>', 'port to listen on (127.0.0.1)')
    .argument('<host>', 'target host, as the serving peer reaches it')
    .argument('<port>', 'target port')
    .action(async (cluster: string, name: string, pass: string, localPort: string, host: string, port: string, _opts: unknown, self: Command) => {
      const args = [await substituteId(cluster), await substituteId(name), pass, localPort, host, port];
      await withDaemon(self, (c) => c.call('TUNNELOPEN', ...args));
      await write(`listening on 127.0.0.1:${localPort}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross tunnel_open ^defaultcluster 5Hq3… SECRETPASS 7777 127.0.0.1 8080']);
}

function tunnelClose(): Command {
  const cmd = new Command('tunnel_close')
    .summary('stop a tunnel listening on a local port')
    .description('Stop listening on the local port and cut the tunnel\'s open connections.')
    .argument('<local_port>', 'the port given to tunnel_open')
    .action(async (localPort: string, _opts: unknown, self: Command) => {
      const closed = await withDaemon(self, async (c) => integer(await c.call('TUNNELCLOSE', localPort), 'TUNNELCLOSE'));
      await write(closed === 1 ? 'closed\n' : `no tunnel on port ${localPort}\n`);
    });
  return examples(clientCommand(cmd), ['crisscross tunnel_close 7777']);
}

export function tunnelCommands(): Command[] {
  return [tunnelAnnounce(), tunnelAllow(), tunnelDisallow(), tunnelOpen(), tunnelClose()];
}
