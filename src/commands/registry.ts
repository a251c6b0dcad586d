import { CrissError } from '../errors.ts';
import type { ReplyWriter } from '../resp/reply.ts';
import type { ArgumentDoc, CommandSpec } from './spec.ts';

/** A registered command with what dispatch needs precomputed. */
export interface RegistryEntry {
  readonly spec: CommandSpec;
  /** The name Redis reports: lower case, subcommands as `client|setname`. */
  readonly fullName: string;
  /** May run before AUTH (`noauth` flag). */
  readonly noauth: boolean;
  /**
   * May wait on the network (`blocking` flag): replies queued before it are flushed first, so
   * a slow command does not hold back the answers to the fast ones pipelined ahead of it.
   */
  readonly blocking: boolean;
  /** CommandSpec.independent: may start while earlier commands of its connection still run. */
  readonly independent: boolean;
  /** Keyed by the upper-case subcommand word (`SETNAME`). */
  readonly subcommands: ReadonlyMap<string, RegistryEntry> | undefined;
  /** Words that name it: 1, or 2 for a subcommand (`CLIENT SETNAME`); its arguments follow. */
  readonly words: 1 | 2;
}

export const README_START = '<!-- commands:start -->';
export const README_END = '<!-- commands:end -->';

/**
 * Every command the daemon knows. Dispatch, arity errors, `COMMAND` replies and the README's
 * command reference all come from the same specs.
 */
export class CommandRegistry {
  /** Top-level entries under their upper- and lower-case names (other casings fall back). */
  private readonly byName = new Map<string, RegistryEntry>();
  private readonly topLevel: RegistryEntry[] = [];

  register(...specs: CommandSpec[]): this {
    for (const spec of specs) {
      const entry = makeEntry(spec, undefined);
      if (this.byName.has(spec.name)) throw new Error(`command ${spec.name} registered twice`);
      this.byName.set(spec.name, entry);
      this.byName.set(entry.fullName, entry);
      this.topLevel.push(entry);
    }
    return this;
  }

  /** The dispatch lookup: `name` as the client sent it, any casing. */
  resolve(name: string): RegistryEntry | undefined {
    return this.byName.get(name) ?? this.byName.get(name.toUpperCase());
  }

  /** A command or subcommand by name: `ping`, `CLIENT|SETNAME` or `client setname`. */
  lookup(name: string): CommandSpec | undefined {
    return this.find(name)?.spec;
  }

  /** Number of top-level commands (`COMMAND COUNT`). */
  get size(): number {
    return this.topLevel.length;
  }

  /** Top-level specs sorted by name. */
  commands(): CommandSpec[] {
    return this.sorted().map((e) => e.spec);
  }

  /** `COMMAND` / `COMMAND INFO [name…]`: one 10-element entry per name, nil for unknown ones. */
  writeInfo(reply: ReplyWriter, names?: readonly string[]): void {
    if (names === undefined || names.length === 0) {
      const all = this.sorted();
      reply.array(all.length);
      for (const e of all) writeInfoEntry(reply, e);
      return;
    }
    reply.array(names.length);
    for (const name of names) {
      const e = this.find(name);
      if (e === undefined) reply.nil();
      else writeInfoEntry(reply, e);
    }
  }

  /** `COMMAND DOCS [name…]`: a map from name to docs; unknown names are left out, like Redis. */
  writeDocs(reply: ReplyWriter, names?: readonly string[]): void {
    let entries: RegistryEntry[];
    if (names === undefined || names.length === 0) entries = this.sorted();
    else entries = names.map((n) => this.find(n)).filter((e): e is RegistryEntry => e !== undefined);
    reply.map(entries.length);
    for (const e of entries) {
      reply.bulk(e.fullName);
      writeDocEntry(reply, e);
    }
  }

  /** `COMMAND LIST`: every command and subcommand name. */
  writeList(reply: ReplyWriter): void {
    const names: string[] = [];
    for (const e of this.sorted()) {
      names.push(e.fullName);
      for (const s of sortedSubcommands(e)) names.push(s.fullName);
    }
    reply.array(names.length);
    for (const n of names) reply.bulk(n);
  }

  /** The command reference for README.md, grouped by `group`. */
  renderMarkdown(): string {
    const groups = new Map<string, RegistryEntry[]>();
    for (const e of this.sorted()) {
      const list = groups.get(e.spec.group) ?? [];
      list.push(e);
      groups.set(e.spec.group, list);
    }
    const out: string[] = [];
    for (const group of [...groups.keys()].sort()) {
      out.push(`### ${group}`, '');
      for (const e of groups.get(group)!) {
        const subs = sortedSubcommands(e);
        if (subs.length === 0 || e.spec.arity === -1) out.push(...markdownEntry(e));
        for (const s of subs) out.push(...markdownEntry(s));
      }
    }
    return out.join('\n');
  }

  private find(name: string): RegistryEntry | undefined {
    const parts = name.split(/[| ]/);
    const top = this.resolve(parts[0]);
    if (parts.length === 1 || top === undefined) return top;
    if (parts.length !== 2) return undefined;
    return top.subcommands?.get(parts[1].toUpperCase());
  }

  private sorted(): RegistryEntry[] {
    return [...this.topLevel].sort((a, b) => compare(a.fullName, b.fullName));
  }
}

/** `-ERR wrong number of arguments for 'ping' command` */
export function arityError(fullName: string): CrissError {
  return new CrissError('ERR', `wrong number of arguments for '${fullName}' command`);
}

/** Whether `argc` words (name included) satisfy a Redis arity. */
export function arityAccepts(arity: number, argc: number): boolean {
  return arity >= 0 ? argc === arity : argc >= -arity;
}

/**
 * Redis's text for an unknown command, as a latin1 string: the name and the first arguments
 * quoted and cut to 128 bytes in total, each ending with a space.
 */
export function unknownCommandText(argv: readonly Uint8Array[]): string {
  let args = '';
  for (let i = 1; i < argv.length && args.length < 128; i++) {
    args += `'${cText(argv[i], 128 - args.length)}' `;
  }
  return `ERR unknown command '${cText(argv[0], 128)}', with args beginning with: ${args}`;
}

/** `ERR unknown subcommand 'bar'. Try CLIENT HELP.`, as a latin1 string. */
export function unknownSubcommandText(container: string, sub: Uint8Array): string {
  return `ERR unknown subcommand '${cText(sub, 128)}'. Try ${container} HELP.`;
}

/**
 * Replaces the text between the README markers with `rendered`. `changed` tells a check
 * (CI, a generator script) whether the README was stale.
 */
export function updateReadmeCommands(readme: string, rendered: string): { text: string; changed: boolean } {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`README lacks the ${README_START} … ${README_END} markers`);
  const text = `${readme.slice(0, start + README_START.length)}\n${rendered.trim()}\n${readme.slice(end)}`;
  return { text, changed: text !== readme };
}

/** Redis's `%.Ns` of raw bytes: cut at NUL and at `max` bytes, one latin1 char per byte. */
function cText(bytes: Uint8Array, max: number): string {
  let end = Math.min(bytes.length, max);
  const nul = bytes.subarray(0, end).indexOf(0);
  if (nul >= 0) end = nul;
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function makeEntry(spec: CommandSpec, parent: CommandSpec | undefined): RegistryEntry {
  if (spec.name !== spec.name.toUpperCase()) throw new Error(`command name ${spec.name} must be upper case`);
  if (spec.arity === 0) throw new Error(`command ${spec.name} has arity 0`);
  if (parent !== undefined && !spec.name.startsWith(`${parent.name}|`)) {
    throw new Error(`subcommand ${spec.name} must be named ${parent.name}|…`);
  }
  for (const a of spec.arguments) checkArgument(spec.name, a);
  let subcommands: Map<string, RegistryEntry> | undefined;
  if (spec.subcommands !== undefined && spec.subcommands.length > 0) {
    if (parent !== undefined) throw new Error(`subcommand ${spec.name} cannot have subcommands`);
    subcommands = new Map();
    for (const sub of spec.subcommands) {
      const word = sub.name.slice(spec.name.length + 1);
      if (subcommands.has(word)) throw new Error(`subcommand ${sub.name} registered twice`);
      subcommands.set(word, makeEntry(sub, spec));
    }
  }
  return {
    spec,
    fullName: spec.name.toLowerCase(),
    noauth: spec.flags.includes('noauth'),
    blocking: spec.flags.includes('blocking'),
    independent: spec.independent === true,
    subcommands,
    words: parent === undefined ? 1 : 2,
  };
}

/** redis-cli dereferences `arguments` of every oneof/block argument: it must be there. */
function checkArgument(command: string, a: ArgumentDoc): void {
  const nested = a.type === 'oneof' || a.type === 'block';
  if (nested !== (a.arguments !== undefined && a.arguments.length > 0)) {
    throw new Error(`${command}: argument ${a.name} of type ${a.type} ${nested ? 'needs' : 'cannot have'} nested arguments`);
  }
  if (a.type === 'pure-token' && a.token === undefined) throw new Error(`${command}: pure-token ${a.name} needs a token`);
  for (const sub of a.arguments ?? []) checkArgument(command, sub);
}

function sortedSubcommands(e: RegistryEntry): RegistryEntry[] {
  return e.subcommands === undefined ? [] : [...e.subcommands.values()].sort((a, b) => compare(a.fullName, b.fullName));
}

function writeInfoEntry(reply: ReplyWriter, e: RegistryEntry): void {
  const { spec } = e;
  reply.array(10);
  reply.bulk(e.fullName);
  reply.integer(spec.arity);
  reply.array(spec.flags.length);
  for (const f of spec.flags) reply.simple(f);
  const [first, last, step] = keyPositions(spec, e.fullName.includes('|') ? 2 : 1);
  reply.integer(first);
  reply.integer(last);
  reply.integer(step);
  const categories = aclCategories(spec);
  reply.array(categories.length);
  for (const c of categories) reply.simple(c);
  reply.array(0); // tips
  reply.array(0); // key specs
  const subs = sortedSubcommands(e);
  reply.array(subs.length);
  for (const s of subs) writeInfoEntry(reply, s);
}

/**
 * Redis's legacy (first key, last key, step), derived from a leading `key` argument preceded
 * only by fixed single-word arguments; (0, 0, 0) when keys are not at fixed positions.
 */
function keyPositions(spec: CommandSpec, firstPosition: number): [number, number, number] {
  let position = firstPosition;
  for (const a of spec.arguments) {
    if (a.optional || (a.multiple && a.type !== 'key') || a.type === 'oneof' || a.type === 'block') break;
    if (a.type === 'key') return [position, a.multiple ? -1 : position, 1];
    position += a.token !== undefined && a.type !== 'pure-token' ? 2 : 1;
  }
  return [0, 0, 0];
}

function aclCategories(spec: CommandSpec): string[] {
  const categories: string[] = [];
  if (spec.flags.includes('readonly')) categories.push('@read');
  if (spec.flags.includes('write')) categories.push('@write');
  categories.push(spec.flags.includes('fast') ? '@fast' : '@slow');
  categories.push(`@${spec.group}`);
  return categories;
}

function writeDocEntry(reply: ReplyWriter, e: RegistryEntry): void {
  const { spec } = e;
  const subs = sortedSubcommands(e);
  reply.map(4 + (spec.arguments.length > 0 ? 1 : 0) + (subs.length > 0 ? 1 : 0));
  reply.bulk('summary');
  reply.bulk(spec.summary);
  reply.bulk('since');
  reply.bulk(spec.since);
  reply.bulk('group');
  reply.bulk(spec.group);
  reply.bulk('reply');
  reply.bulk(spec.reply);
  if (spec.arguments.length > 0) {
    reply.bulk('arguments');
    writeArguments(reply, spec.arguments);
  }
  if (subs.length > 0) {
    reply.bulk('subcommands');
    reply.map(subs.length);
    for (const s of subs) {
      reply.bulk(s.fullName);
      writeDocEntry(reply, s);
    }
  }
}

/** The argument maps redis-cli builds its hints from; every key and text value is a bulk. */
function writeArguments(reply: ReplyWriter, args: readonly ArgumentDoc[]): void {
  reply.array(args.length);
  for (const a of args) {
    const flags: string[] = [];
    if (a.optional) flags.push('optional');
    if (a.multiple) flags.push('multiple');
    const nested = a.arguments !== undefined && a.arguments.length > 0;
    reply.map(2 + (a.display_text !== undefined ? 1 : 0) + (a.token !== undefined ? 1 : 0) + (flags.length > 0 ? 1 : 0) + (nested ? 1 : 0));
    reply.bulk('name');
    reply.bulk(a.name);
    reply.bulk('type');
    reply.bulk(a.type);
    if (a.display_text !== undefined) {
      reply.bulk('display_text');
      reply.bulk(a.display_text);
    }
    if (a.token !== undefined) {
      reply.bulk('token');
      reply.bulk(a.token);
    }
    if (flags.length > 0) {
      reply.bulk('flags');
      reply.array(flags.length);
      for (const f of flags) reply.simple(f);
    }
    if (nested) {
      reply.bulk('arguments');
      writeArguments(reply, a.arguments!);
    }
  }
}

/** The usage line, as Redis's docs write it: `SET key value [NX | XX]`. */
export function syntax(spec: CommandSpec): string {
  const words = [spec.name.replace('|', ' '), ...spec.arguments.map(argumentSyntax)];
  return words.join(' ');
}

function argumentSyntax(a: ArgumentDoc): string {
  const token = a.token === undefined ? '' : a.token === '' ? '""' : a.token;
  let value: string;
  if (a.type === 'pure-token') value = '';
  else if (a.type === 'oneof') value = a.arguments!.map(argumentSyntax).join(' | ');
  else if (a.type === 'block') value = a.arguments!.map(argumentSyntax).join(' ');
  else value = a.display_text ?? a.name;
  if (a.type === 'oneof' && (token !== '' || !a.optional)) value = `<${value}>`;
  // A repeated argument repeats its value, not its token: `ID id [id ...]`.
  if (a.multiple) value = `${value} [${value} ...]`;
  const text = token !== '' && value !== '' ? `${token} ${value}` : token + value;
  return a.optional ? `[${text}]` : text;
}

function markdownEntry(e: RegistryEntry): string[] {
  const { spec } = e;
  const flags = spec.flags.length > 0 ? ` · flags: ${spec.flags.join(', ')}` : '';
  return [
    `#### ${spec.name.replace('|', ' ')}`,
    '',
    '```',
    syntax(spec),
    '```',
    '',
    spec.summary,
    '',
    `**Reply:** ${spec.reply}`,
    '',
    `<sub>arity ${spec.arity}${flags} · since ${spec.since}</sub>`,
    '',
  ];
}
