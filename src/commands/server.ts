import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { CrissError } from '../errors.ts';
import { inSubscribedContext } from '../pubsub/broker.ts';
import { closeSessionState } from '../resp/connection.ts';
import type { ReplyWriter } from '../resp/reply.ts';
import type { Logger } from 'pino';
import { packageVersion } from '../config.ts';
import { serverOf, type ClientView, type InfoSource, type ServerView } from '../resp/server.ts';
import { arityError, type CommandRegistry } from './registry.ts';
import { clientKill, clientUnblock } from './client-control.ts';
import type { ClientSession, CommandContext, CommandSpec } from './spec.ts';
import { latin1, parseInteger } from './text.ts';

/** The Redis version we claim in INFO and HELLO: what clients gate features on. */
export const REDIS_COMPAT_VERSION = '7.0.0';

export interface ServerCommandDeps {
  registry: CommandRegistry;
  logger: Logger;
  /** Reported as `crisscross_version`; defaults to package.json's. */
  version?: string;
}

const SINCE = '0.1.0';
const CONNECTION_FLAGS = ['noscript', 'loading', 'stale', 'fast', 'noauth', 'allow_busy'];

/** PING, ECHO, QUIT, HELLO, AUTH, SELECT, RESET, INFO, CLIENT …, COMMAND …: the Redis manners. */
export function serverCommands(deps: ServerCommandDeps): CommandSpec[] {
  const { registry, logger } = deps;
  const version = deps.version ?? packageVersion();
  const runId = randomBytes(20).toString('hex');

  const clientHelp = (ctx: CommandContext): void =>
    writeLines(ctx.reply, [
      'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'GETNAME',
      '    Return the name of the current connection.',
      'ID',
      '    Return the ID of the current connection.',
      'INFO',
      '    Return information about the current client connection.',
      'KILL <ip:port>',
      '    Kill connection made from <ip:port>.',
      'KILL <option> <value> [<option> <value> [...]]',
      '    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>,',
      '    TYPE <NORMAL|PUBSUB>, USER <username>, MAXAGE <seconds>, SKIPME <YES|NO> (default YES).',
      'LIST [TYPE NORMAL] [ID <id> [<id> ...]]',
      '    Return information about client connections.',
      'SETINFO <LIB-NAME libname | LIB-VER libver>',
      '    Record the client library name or version, shown by CLIENT LIST.',
      'SETNAME <name>',
      '    Assign the name <name> to the current connection.',
      'UNBLOCK <clientid> [TIMEOUT|ERROR]',
      '    Unblock the specified blocked client (JOBGET).',
      'HELP',
      '    Print this help.',
    ]);

  const commandHelp = (ctx: CommandContext): void =>
    writeLines(ctx.reply, [
      'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      '(no subcommand)',
      '    Return details about all commands.',
      'COUNT',
      '    Return the total number of commands.',
      'DOCS [<command-name> ...]',
      '    Return documentation details about multiple commands.',
      'INFO [<command-name> ...]',
      '    Return details about multiple commands.',
      'LIST',
      '    Return a list of all commands.',
      'HELP',
      '    Print this help.',
    ]);

  const client = (spec: Partial<CommandSpec> & Pick<CommandSpec, 'name' | 'arity' | 'summary' | 'reply' | 'handler'>): CommandSpec => ({
    flags: ['noscript', 'loading', 'stale'],
    group: 'connection',
    since: SINCE,
    arguments: [],
    ...spec,
  });

  return [
    {
      name: 'PING',
      arity: -1,
      flags: ['fast'],
      group: 'connection',
      since: SINCE,
      summary: 'Returns the server\'s liveliness response.',
      arguments: [{ name: 'message', type: 'string', optional: true }],
      reply: 'Simple string `PONG` without an argument, otherwise the message as a bulk string; a subscribed RESP2 client gets `["pong", message or ""]`.',
      handler: ({ args, client: c, reply }) => {
        if (args.length > 1) throw arityError('ping');
        if (inSubscribedContext(c.protocol, c.state)) {
          reply.array(2);
          reply.bulk('pong');
          reply.bulk(args.length === 1 ? args[0] : '');
        } else if (args.length === 1) reply.bulk(args[0]);
        else reply.simple('PONG');
      },
    },
    {
      name: 'ECHO',
      arity: 2,
      flags: ['fast'],
      group: 'connection',
      since: SINCE,
      summary: 'Returns the given string.',
      arguments: [{ name: 'message', type: 'string' }],
      reply: 'The message, as a bulk string.',
      handler: ({ args, reply }) => reply.bulk(args[0]),
    },
    {
      name: 'QUIT',
      arity: -1,
      flags: CONNECTION_FLAGS,
      group: 'connection',
      since: SINCE,
      summary: 'Closes the connection once the replies to earlier commands are sent.',
      arguments: [],
      reply: 'Simple string `OK`.',
      handler: ({ client: c, reply }) => {
        reply.simple('OK');
        c.closeAfterReply();
      },
    },
    {
      name: 'HELLO',
      arity: -1,
      flags: CONNECTION_FLAGS,
      group: 'connection',
      since: SINCE,
      summary: 'Handshakes: selects the protocol (2 or 3), optionally authenticates and names the connection.',
      arguments: [
        {
          name: 'arguments',
          type: 'block',
          optional: true,
          arguments: [
            { name: 'protover', type: 'integer' },
            {
              name: 'username-password',
              type: 'block',
              token: 'AUTH',
              optional: true,
              arguments: [
                { name: 'username', type: 'string' },
                { name: 'password', type: 'string' },
              ],
            },
            { name: 'clientname', type: 'string', token: 'SETNAME', optional: true },
          ],
        },
      ],
      reply:
        'A map of `server`, `version`, `proto`, `id`, `mode`, `role` and `modules` (a flat array of 14 items in RESP2); `-NOPROTO` for a protocol other than 2 or 3.',
      handler: ({ args, client: c, reply }) => {
        const server = serverOf(c);
        let protocol: 2 | 3 | undefined;
        let next = 0;
        if (args.length > 0) {
          const ver = parseInteger(args[next++]);
          if (ver === undefined) throw new CrissError('ERR', 'Protocol version is not an integer or out of range');
          if (ver !== 2 && ver !== 3) throw new CrissError('NOPROTO', 'unsupported protocol version');
          protocol = ver;
        }
        let name: string | undefined;
        for (; next < args.length; next++) {
          const option = latin1(args[next]).toUpperCase();
          const more = args.length - 1 - next;
          if (option === 'AUTH' && more >= 2) {
            if (!server.authenticate(args[next + 1], args[next + 2])) throw wrongPass();
            c.authenticated = true;
            next += 2;
          } else if (option === 'SETNAME' && more >= 1) {
            name = validName(args[++next]);
          } else {
            throw new CrissError('ERR', `Syntax error in HELLO option '${latin1(args[next])}'`);
          }
        }
        if (!c.authenticated) {
          throw new CrissError(
            'NOAUTH',
            'HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
          );
        }
        if (name !== undefined) c.name = name;
        if (protocol !== undefined) c.protocol = protocol;
        reply.map(7);
        reply.bulk('server');
        reply.bulk('redis');
        reply.bulk('version');
        reply.bulk(REDIS_COMPAT_VERSION);
        reply.bulk('proto');
        reply.integer(c.protocol);
        reply.bulk('id');
        reply.integer(c.id);
        reply.bulk('mode');
        reply.bulk('standalone');
        reply.bulk('role');
        reply.bulk('master');
        reply.bulk('modules');
        reply.array(0);
      },
    },
    {
      name: 'AUTH',
      arity: -2,
      flags: CONNECTION_FLAGS,
      group: 'connection',
      since: SINCE,
      summary: 'Authenticates the connection with the configured password (the only user is `default`).',
      arguments: [
        { name: 'username', type: 'string', optional: true },
        { name: 'password', type: 'string' },
      ],
      reply: 'Simple string `OK`, or `-WRONGPASS` when the username or password is wrong.',
      handler: ({ args, client: c, reply }) => {
        const server = serverOf(c);
        if (args.length > 2) throw new CrissError('ERR', 'syntax error');
        if (args.length === 1 && !server.passwordRequired) {
          throw new CrissError(
            'ERR',
            'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
          );
        }
        const ok = args.length === 1 ? server.authenticate(undefined, args[0]) : server.authenticate(args[0], args[1]);
        if (!ok) throw wrongPass();
        c.authenticated = true;
        reply.simple('OK');
      },
    },
    {
      name: 'SELECT',
      arity: 2,
      flags: ['loading', 'stale', 'fast'],
      group: 'connection',
      since: SINCE,
      summary: 'Selects a database. Only database 0 exists; the command is here for clients that send it.',
      arguments: [{ name: 'index', type: 'integer' }],
      reply: 'Simple string `OK` for 0, an error for any other index.',
      handler: ({ args, reply }) => {
        const index = parseInteger(args[0]);
        if (index === undefined) throw new CrissError('ERR', 'value is not an integer or out of range');
        if (index !== 0) throw new CrissError('ERR', 'DB index is out of range');
        reply.simple('OK');
      },
    },
    {
      name: 'RESET',
      arity: 1,
      flags: CONNECTION_FLAGS,
      group: 'connection',
      since: SINCE,
      summary: 'Resets the connection: RESP2, no name, unauthenticated if a password is set, per-connection state (iterators, streams) closed.',
      arguments: [],
      reply: 'Simple string `RESET`.',
      handler: ({ client: c, reply }) => {
        c.protocol = 2;
        c.name = '';
        c.authenticated = !serverOf(c).passwordRequired;
        closeSessionState(c.state, logger);
        reply.simple('RESET');
      },
    },
    {
      name: 'INFO',
      arity: -1,
      flags: ['loading', 'stale'],
      group: 'server',
      since: SINCE,
      summary: 'Returns information and statistics about the node, by section (`server`, `clients`, `memory`, `stats`, and those of the store and network layers).',
      arguments: [{ name: 'section', type: 'string', optional: true, multiple: true }],
      reply: 'The requested sections as `field:value` lines: a bulk string in RESP2, a verbatim string in RESP3.',
      handler: ({ args, client: c, reply }) => {
        const server = serverOf(c);
        reply.verbatim(renderInfo(builtinSections(server, version, runId), server.infoSources, args.map(latin1)));
      },
    },
    {
      name: 'CLIENT',
      arity: -2,
      flags: ['noscript', 'loading', 'stale'],
      group: 'connection',
      since: SINCE,
      summary: 'A container for client connection commands.',
      arguments: [],
      reply: 'Depends on the subcommand.',
      handler: clientHelp,
      subcommands: [
        client({
          name: 'CLIENT|SETNAME',
          arity: 3,
          summary: 'Sets the connection name (empty to clear it).',
          arguments: [{ name: 'connection-name', type: 'string' }],
          reply: 'Simple string `OK`.',
          handler: ({ args, client: c, reply }) => {
            c.name = validName(args[0]);
            reply.simple('OK');
          },
        }),
        client({
          name: 'CLIENT|GETNAME',
          arity: 2,
          summary: 'Returns the name of the connection.',
          reply: 'The name as a bulk string, or nil when none is set.',
          handler: ({ client: c, reply }) => (c.name === '' ? reply.nil() : reply.bulk(c.name)),
        }),
        client({
          name: 'CLIENT|ID',
          arity: 2,
          summary: 'Returns the unique id of the connection.',
          reply: 'Integer.',
          handler: ({ client: c, reply }) => reply.integer(c.id),
        }),
        client({
          name: 'CLIENT|INFO',
          arity: 2,
          summary: 'Returns information about this connection, in CLIENT LIST format.',
          reply: 'Bulk string: one `field=value` line.',
          handler: ({ client: c, reply }) => reply.verbatim(clientLine(viewOf(c))),
        }),
        client({
          name: 'CLIENT|LIST',
          arity: -2,
          summary: 'Lists the open connections.',
          arguments: [
            {
              name: 'client-type',
              type: 'oneof',
              token: 'TYPE',
              optional: true,
              arguments: [
                { name: 'normal', type: 'pure-token', token: 'NORMAL' },
                { name: 'master', type: 'pure-token', token: 'MASTER' },
                { name: 'replica', type: 'pure-token', token: 'REPLICA' },
                { name: 'pubsub', type: 'pure-token', token: 'PUBSUB' },
              ],
            },
            { name: 'client-id', type: 'integer', token: 'ID', optional: true, multiple: true },
          ],
          reply: 'Bulk string: one `field=value` line per connection.',
          handler: ({ args, client: c, reply }) => reply.verbatim(serverOf(c).clients.filter(clientFilter(args)).map(clientLine).join('')),
        }),
        client({
          name: 'CLIENT|SETINFO',
          arity: 4,
          summary: 'Records the client library name or version, shown by CLIENT LIST.',
          arguments: [
            {
              name: 'attr',
              type: 'oneof',
              arguments: [
                { name: 'libname', type: 'string', token: 'LIB-NAME' },
                { name: 'libver', type: 'string', token: 'LIB-VER' },
              ],
            },
          ],
          reply: 'Simple string `OK`.',
          handler: ({ args, client: c, reply }) => {
            const attr = latin1(args[0]).toLowerCase();
            if (attr !== 'lib-name' && attr !== 'lib-ver') throw new CrissError('ERR', `Unrecognized option '${latin1(args[0])}'`);
            const value = latin1(args[1]);
            if (!isNameText(value)) throw new CrissError('ERR', `${attr} cannot contain spaces, newlines or special characters.`);
            const view = viewOf(c);
            if (attr === 'lib-name') view.libName = value;
            else view.libVer = value;
            reply.simple('OK');
          },
        }),
        client(clientUnblock),
        client(clientKill),
        client({ name: 'CLIENT|HELP', arity: 2, summary: 'Shows helpful text about the different subcommands.', reply: 'Array of simple strings.', handler: clientHelp }),
      ],
    },
    {
      name: 'COMMAND',
      arity: -1,
      flags: ['loading', 'stale'],
      group: 'server',
      since: SINCE,
      summary: 'Returns detailed information about all commands.',
      arguments: [],
      reply: 'Array of command entries (name, arity, flags, key positions, categories, tips, key specs, subcommands).',
      handler: ({ reply }) => registry.writeInfo(reply),
      subcommands: [
        {
          name: 'COMMAND|COUNT',
          arity: 2,
          flags: ['loading', 'stale'],
          group: 'server',
          since: SINCE,
          summary: 'Returns the number of commands.',
          arguments: [],
          reply: 'Integer.',
          handler: ({ reply }) => reply.integer(registry.size),
        },
        {
          name: 'COMMAND|INFO',
          arity: -2,
          flags: ['loading', 'stale'],
          group: 'server',
          since: SINCE,
          summary: 'Returns information about one, multiple or all commands.',
          arguments: [{ name: 'command-name', type: 'string', optional: true, multiple: true }],
          reply: 'Array with one command entry per name, nil for unknown names.',
          handler: ({ args, reply }) => registry.writeInfo(reply, args.map(latin1)),
        },
        {
          name: 'COMMAND|DOCS',
          arity: -2,
          flags: ['loading', 'stale'],
          group: 'server',
          since: SINCE,
          summary: 'Returns documentary information about one, multiple or all commands.',
          arguments: [{ name: 'command-name', type: 'string', optional: true, multiple: true }],
          reply: 'Map from command name to its docs (summary, since, group, reply, arguments, subcommands); unknown names are left out.',
          handler: ({ args, reply }) => registry.writeDocs(reply, args.map(latin1)),
        },
        {
          name: 'COMMAND|LIST',
          arity: 2,
          flags: ['loading', 'stale'],
          group: 'server',
          since: SINCE,
          summary: 'Returns the names of all commands and subcommands.',
          arguments: [],
          reply: 'Array of bulk strings.',
          handler: ({ reply }) => registry.writeList(reply),
        },
        {
          name: 'COMMAND|HELP',
          arity: 2,
          flags: ['loading', 'stale'],
          group: 'server',
          since: SINCE,
          summary: 'Shows helpful text about the different subcommands.',
          arguments: [],
          reply: 'Array of simple strings.',
          handler: commandHelp,
        },
      ],
    },
  ];
}

function wrongPass(): CrissError {
  return new CrissError('WRONGPASS', 'invalid username-password pair or user is disabled.');
}

/** Redis allows names of printable ASCII without spaces ('!'..'~'). */
function isNameText(text: string): boolean {
  return /^[!-~]*$/.test(text);
}

function validName(bytes: Uint8Array): string {
  const name = latin1(bytes);
  if (!isNameText(name)) throw new CrissError('ERR', 'Client names cannot contain spaces, newlines or special characters.');
  return name;
}

function writeLines(reply: ReplyWriter, lines: string[]): void {
  reply.array(lines.length);
  for (const line of lines) reply.simple(line);
}

function clientFilter(args: Uint8Array[]): (c: ClientView) => boolean {
  let ids: Set<number> | undefined;
  let type: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const option = latin1(args[i]).toUpperCase();
    if (option === 'TYPE' && i + 1 < args.length) {
      const requested = latin1(args[++i]).toLowerCase();
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(requested)) throw new CrissError('ERR', `Unknown client type '${requested}'`);
      type = requested === 'slave' ? 'replica' : requested;
    } else if (option === 'ID' && i + 1 < args.length) {
      ids = new Set();
      while (i + 1 < args.length) {
        const id = parseInteger(args[++i]);
        if (id === undefined || id <= 0) throw new CrissError('ERR', 'Invalid client ID');
        ids.add(id);
      }
    } else {
      throw new CrissError('ERR', 'syntax error');
    }
  }
  const typeOf = (c: ClientView): string => (c.subscribed.channels + c.subscribed.patterns > 0 ? 'pubsub' : 'normal');
  return (c) => (type === undefined || typeOf(c) === type) && (ids === undefined || ids.has(c.id));
}

/** Redis's letters: `P` subscribed, `b` blocked in a command, `N` neither. */
function clientFlags(c: ClientView): string {
  const pubsub = c.subscribed.channels + c.subscribed.patterns > 0;
  const flags = `${pubsub ? 'P' : ''}${c.blocked ? 'b' : ''}`;
  return flags === '' ? 'N' : flags;
}

/** One CLIENT LIST line, fields in Redis's order (those that mean nothing here left out). */
function clientLine(c: ClientView): string {
  const now = Date.now();
  const age = Math.floor((now - c.createdAt) / 1000);
  const idle = Math.floor((now - c.lastInteraction) / 1000);
  return (
    `id=${c.id} addr=${c.addr} laddr=${c.laddr} name=${c.name} age=${age} idle=${idle} flags=${clientFlags(c)} ` +
    `db=0 sub=${c.subscribed.channels} psub=${c.subscribed.patterns} ssub=0 multi=-1 qbuf=${c.inputBuffered} obl=0 oll=0 omem=${c.outputBuffered} events=r ` +
    `cmd=${c.lastCommand} user=default redir=-1 resp=${c.protocol} lib-name=${c.libName} lib-ver=${c.libVer}\n`
  );
}

/** The connection behind a session: always listed while its commands run. */
function viewOf(c: ClientSession): ClientView {
  const view = serverOf(c).client(c.id);
  if (view === undefined) throw new CrissError('CLOSED', 'connection is closed');
  return view;
}

function builtinSections(server: ServerView, version: string, runId: string): InfoSource[] {
  return [
    {
      section: 'server',
      fields: () => {
        const now = Date.now();
        const uptime = Math.floor((now - server.startedAt) / 1000);
        return [
          ['redis_version', REDIS_COMPAT_VERSION],
          ['crisscross_version', version],
          ['redis_mode', 'standalone'],
          ['os', `${os.type()} ${os.release()} ${os.arch()}`],
          ['arch_bits', process.arch.endsWith('64') ? 64 : 32],
          ['node_version', process.versions.node],
          ['process_id', process.pid],
          ['run_id', runId],
          ['tcp_port', server.port],
          ['server_time_usec', now * 1000],
          ['uptime_in_seconds', uptime],
          ['uptime_in_days', Math.floor(uptime / 86400)],
          ['executable', process.execPath],
          ['loading', 0],
        ];
      },
    },
    {
      section: 'clients',
      fields: () => {
        const clients = server.clients;
        return [
          ['connected_clients', clients.length],
          ['blocked_clients', clients.filter((c) => c.blocked).length],
        ];
      },
    },
    {
      section: 'memory',
      fields: () => {
        const m = process.memoryUsage();
        const used = m.heapUsed + m.external;
        return [
          ['used_memory', used],
          ['used_memory_human', human(used)],
          ['used_memory_rss', m.rss],
          ['used_memory_rss_human', human(m.rss)],
          ['total_system_memory', os.totalmem()],
          ['total_system_memory_human', human(os.totalmem())],
          ['node_heap_used', m.heapUsed],
          ['node_heap_total', m.heapTotal],
          ['node_external', m.external],
          ['node_array_buffers', m.arrayBuffers],
        ];
      },
    },
    {
      section: 'stats',
      fields: () => {
        const s = server.stats;
        return [
          ['total_connections_received', s.connectionsReceived],
          ['total_commands_processed', s.commandsProcessed],
          ['total_net_input_bytes', s.netInputBytes],
          ['total_net_output_bytes', s.netOutputBytes],
          ['client_output_limit_disconnections', s.rejectedOutputLimit],
        ];
      },
    },
  ];
}

/**
 * Redis's INFO text: `# Section` headings, `field:value` lines, CRLF line ends, a blank line
 * between sections. No section (or `default`/`all`/`everything`) means every section; names
 * are case-insensitive and unknown ones are ignored.
 */
function renderInfo(builtin: InfoSource[], extra: readonly InfoSource[], requested: string[]): string {
  const wanted = new Set(requested.map((s) => s.toLowerCase()));
  const all = wanted.size === 0 || wanted.has('default') || wanted.has('all') || wanted.has('everything');
  const sections = [...builtin, ...extra].filter((s) => all || wanted.has(s.section.toLowerCase()));
  return sections
    .map((s) => {
      const title = s.section.charAt(0).toUpperCase() + s.section.slice(1);
      return `# ${title}\r\n${s.fields().map(([k, v]) => `${k}:${v}\r\n`).join('')}`;
    })
    .join('\r\n');
}

function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes}B` : `${value.toFixed(2)}${units[unit]}`;
}
