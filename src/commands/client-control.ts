import { CrissError } from '../errors.ts';
import { type ClientView, serverOf } from '../resp/server.ts';
import type { CommandSpec } from './spec.ts';
import { latin1, parseInteger } from './text.ts';

type ClientSubcommand = Pick<CommandSpec, 'name' | 'arity' | 'summary' | 'arguments' | 'reply' | 'handler'>;

/** CLIENT UNBLOCK id [TIMEOUT|ERROR], as Redis answers it; the waits that can be cut short are JOBGET's. */
export const clientUnblock: ClientSubcommand = {
  name: 'CLIENT|UNBLOCK',
  arity: -3,
  summary: 'Ends the wait of a connection blocked in JOBGET: as if it timed out (a nil reply), or with ERROR an `UNBLOCKED` error.',
  arguments: [
    { name: 'client-id', type: 'integer' },
    { name: 'unblock-type', type: 'oneof', optional: true, arguments: [{ name: 'timeout', type: 'pure-token', token: 'TIMEOUT' }, { name: 'error', type: 'pure-token', token: 'ERROR' }] },
  ],
  reply: 'Integer 1 when the connection was blocked and is not any more, 0 otherwise.',
  handler: ({ args, client: c, reply }) => {
    if (args.length > 2) throw new CrissError('ERR', "unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.");
    const id = parseInteger(args[0]);
    if (id === undefined) throw new CrissError('ERR', 'value is not an integer or out of range');
    let error = false;
    if (args.length === 2) {
      const mode = latin1(args[1]).toUpperCase();
      if (mode !== 'TIMEOUT' && mode !== 'ERROR') throw new CrissError('ERR', 'CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
      error = mode === 'ERROR';
    }
    reply.integer(serverOf(c).client(id)?.unblock(error) === true ? 1 : 0);
  },
};

/** CLIENT KILL's filters; every one given must match. */
function killFilter(args: Uint8Array[], selfId: number): (c: ClientView) => boolean {
  const tests: Array<(c: ClientView) => boolean> = [];
  let skipMe = true;
  if (args.length % 2 !== 0) throw new CrissError('ERR', 'syntax error');
  for (let i = 0; i < args.length; i += 2) {
    const option = latin1(args[i]).toUpperCase();
    const value = latin1(args[i + 1]);
    if (option === 'ID') {
      const id = parseInteger(args[i + 1]);
      if (id === undefined || id <= 0) throw new CrissError('ERR', 'client-id should be greater than 0');
      tests.push((c) => c.id === id);
    } else if (option === 'ADDR') tests.push((c) => c.addr === value);
    else if (option === 'LADDR') tests.push((c) => c.laddr === value);
    else if (option === 'TYPE') {
      const type = value.toLowerCase();
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(type)) throw new CrissError('ERR', `Unknown client type '${value}'`);
      tests.push((c) => (c.subscribed.channels + c.subscribed.patterns > 0 ? 'pubsub' : 'normal') === type);
    } else if (option === 'USER') {
      // One user exists, `default`, and every connection is it.
      if (value !== 'default') throw new CrissError('ERR', `No such user '${value}'`);
    } else if (option === 'MAXAGE') {
      const seconds = parseInteger(args[i + 1]);
      if (seconds === undefined) throw new CrissError('ERR', 'syntax error');
      tests.push((c) => (Date.now() - c.createdAt) / 1000 >= seconds);
    } else if (option === 'SKIPME') {
      const yes = value.toLowerCase();
      if (yes !== 'yes' && yes !== 'no') throw new CrissError('ERR', 'syntax error');
      skipMe = yes === 'yes';
    } else throw new CrissError('ERR', 'syntax error');
  }
  return (c) => !(skipMe && c.id === selfId) && tests.every((t) => t(c));
}

/** CLIENT KILL ip:port (the old form, `OK`) or CLIENT KILL filter value … (a count). */
export const clientKill: ClientSubcommand = {
  name: 'CLIENT|KILL',
  arity: -3,
  summary: 'Closes connections: the one from ip:port, or every one matching the filters (ID, ADDR, LADDR, TYPE, USER, MAXAGE; SKIPME yes by default). A killed connection blocked in JOBGET stops waiting; calls it held fail with JOBLOST.',
  arguments: [
    {
      name: 'filter',
      type: 'oneof',
      arguments: [
        { name: 'old-format', type: 'string', display_text: 'ip:port' },
        {
          name: 'new-format',
          type: 'oneof',
          multiple: true,
          arguments: [
            { name: 'client-id', type: 'integer', token: 'ID', optional: true },
            { name: 'client-type', type: 'string', token: 'TYPE', optional: true },
            { name: 'username', type: 'string', token: 'USER', optional: true },
            { name: 'addr', type: 'string', token: 'ADDR', optional: true, display_text: 'ip:port' },
            { name: 'laddr', type: 'string', token: 'LADDR', optional: true, display_text: 'ip:port' },
            { name: 'skipme', type: 'string', token: 'SKIPME', optional: true },
            { name: 'maxage', type: 'integer', token: 'MAXAGE', optional: true },
          ],
        },
      ],
    },
  ],
  reply: 'The old form: simple string OK, or `ERR No such client`. With filters: the integer count of connections closed. Killing the calling connection closes it after this reply.',
  handler: ({ args, client: c, reply }) => {
    const server = serverOf(c);
    const kill = (v: ClientView): void => {
      if (v.id === c.id) c.closeAfterReply();
      else v.kill();
    };
    if (args.length === 1) {
      const target = server.clients.find((v) => v.addr === latin1(args[0]));
      if (target === undefined) throw new CrissError('ERR', 'No such client');
      kill(target);
      reply.simple('OK');
      return;
    }
    const targets = server.clients.filter(killFilter(args, c.id));
    for (const v of targets) kill(v);
    reply.integer(targets.length);
  },
};
