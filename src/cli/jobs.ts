import { Command } from 'commander';
import { parseKey } from '../net/identity.ts';
import { bytes, clientCommand, examples, integer, list, parseCount, parseTtl, withDaemon, write } from './common.ts';
import { CLUSTER_HELP } from './clusters.ts';
import { CliFailure, EXIT } from './exit.ts';
import type { Reply } from './resp.ts';
import { substituteId } from './substitute.ts';

const SERVICE_HELP = 'the service: the Name of its key pair, or *keys/file.yaml#Name';


/** Prints the response (with --signature: `response<TAB>signature in hex`); a failed call exits 3. */
async function printAnswer(reply: Reply, showSignature: boolean): Promise<void> {
  const [entry] = list(reply, 'JOBDO');
  if (!Array.isArray(entry)) throw new CliFailure(EXIT.server, bytes(entry, 'JOBDO').toString());
  const [response, signature] = [bytes(entry[0], 'JOBDO'), bytes(entry[1], 'JOBDO')];
  await write(showSignature ? Buffer.concat([response, Buffer.from(`\t${signature.toString('hex')}\n`)]) : response);
}

function jobAnnounce(): Command {
  const cmd = new Command('job_announce')
    .summary('offer a service to a cluster')
    .description('Provide a service on the cluster\'s DHT for --ttl ms (re-provided after a restart) and accept its calls here; workers take them with JOBGET and answer with JOBRESPOND.')
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<service>', SERVICE_HELP)
    .option('--ttl <ms>', 'how long to announce (-1: forever)', parseTtl, -1)
    .action(async (clusterArg: string, serviceArg: string, opts: { ttl: number }, self: Command) => {
      const [cluster, service] = [await substituteId(clusterArg), await substituteId(serviceArg)];
      await withDaemon(self, (c) => c.call('JOBANNOUNCE', cluster, service, String(opts.ttl)));
    });
  return examples(clientCommand(cmd), ['crisscross job_announce "*clusters/my_cluster.yaml#Name" "*keys/my_key.yaml#Name"']);
}

const DO_HELP = 'Prints the response; with --signature, the response, a tab and the signature in hex (its first 16 bytes are the call\'s nonce). Exits 3 on an error (TIMEOUT, NOSERVICE, …).';

interface DoOptions {
  timeout: number;
  signature?: boolean;
}

function jobDo(): Command {
  const cmd = new Command('job_do')
    .summary('call a service accepted on this daemon')
    .description(`Queue one call for a local worker of the service (JOBLOCAL or JOBANNOUNCE here). ${DO_HELP}`)
    .argument('<service>', SERVICE_HELP)
    .argument('<method>', 'the method name')
    .argument('<arg>', 'the argument (bytes as given)')
    .option('--timeout <ms>', 'how long to wait for the answer', parseCount, 30_000)
    .option('--signature', 'print the signature too')
    .action(async (service: string, method: string, arg: string, opts: DoOptions, self: Command) => {
      const name = await substituteId(service);
      await printAnswer(await withDaemon(self, (c) => c.call('JOBDO', name, String(opts.timeout), method, arg)), opts.signature === true);
    });
  return examples(clientCommand(cmd), ['crisscross job_do "*keys/my_key.yaml#Name" add_one 41 --signature']);
}

function remoteJobDo(): Command {
  const cmd = new Command('remote_job_do')
    .summary('call a service that members of a cluster provide')
    .description(`Send one call to a provider of the service in the cluster (the least busy of up to --num; a failed one is replaced). ${DO_HELP}`)
    .argument('<cluster>', CLUSTER_HELP)
    .argument('<service>', SERVICE_HELP)
    .argument('<method>', 'the method name')
    .argument('<arg>', 'the argument (bytes as given)')
    .option('--num <n>', 'providers to use at once', parseCount, 1)
    .option('--timeout <ms>', 'how long to wait for the answer', parseCount, 30_000)
    .option('--signature', 'print the signature too')
    .action(async (clusterArg: string, service: string, method: string, arg: string, opts: DoOptions & { num: number }, self: Command) => {
      const [cluster, name] = [await substituteId(clusterArg), await substituteId(service)];
      const reply = await withDaemon(self, (c) => c.call('REMOTE', cluster, String(opts.num), 'JOBDO', name, String(opts.timeout), method, arg));
      await printAnswer(reply, opts.signature === true);
    });
  return examples(clientCommand(cmd), ['crisscross remote_job_do --num 2 "*clusters/my_cluster.yaml#Name" "*keys/my_key.yaml#Name" add_one 41']);
}

function jobVerify(): Command {
  const cmd = new Command('job_verify')
    .summary('check the signature of an answer')
    .description('Check that <signature> (hex, as job_do --signature prints it) is the service key\'s signature of this answer to this call. Exits 0 when it holds, 1 when not.')
    .argument('<service>', SERVICE_HELP)
    .argument('<method>', 'the method of the call')
    .argument('<arg>', 'the argument of the call')
    .argument('<response>', 'the response')
    .argument('<signature>', 'the signature, hex')
    .argument('<public_key>', 'the service\'s public key, base58, or *keys/file.yaml#PublicKey')
    .action(async (service: string, method: string, arg: string, response: string, signature: string, publicKey: string, _opts: unknown, self: Command) => {
      if (!/^([0-9a-f]{2})+$/i.test(signature)) throw new CliFailure(EXIT.usage, 'the signature must be hex');
      const [name, key] = [await substituteId(service), await substituteId(publicKey)];
      try {
        parseKey(key, 'public_key');
      } catch (e) {
        throw new CliFailure(EXIT.usage, (e as Error).message);
      }
      const ok = await withDaemon(self, async (c) => integer(await c.call('JOBVERIFY', name, method, arg, response, Buffer.from(signature, 'hex'), key), 'JOBVERIFY'));
      if (ok !== 1) throw new CliFailure(EXIT.no, 'the signature does not verify');
      await write('ok\n');
    });
  return examples(clientCommand(cmd), ['crisscross job_verify "*keys/my_key.yaml#Name" add_one 41 42 <hex> "*keys/my_key.yaml#PublicKey"']);
}

export function jobCommandsCli(): Command[] {
  return [jobAnnounce(), jobDo(), remoteJobDo(), jobVerify()];
}
