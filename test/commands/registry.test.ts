import { describe, expect, it } from 'vitest';
import {
  CommandRegistry,
  README_END,
  README_START,
  arityAccepts,
  syntax,
  unknownCommandText,
  unknownSubcommandText,
  updateReadmeCommands,
} from '../../src/commands/registry.ts';
import type { CommandSpec } from '../../src/commands/spec.ts';
import { ReplyBuffer } from '../../src/resp/writer.ts';
import { parseAll, text } from '../resp/helpers.ts';

function spec(name: string, extra: Partial<CommandSpec> = {}): CommandSpec {
  return {
    name,
    arity: -1,
    flags: [],
    group: 'test',
    since: '0.1.0',
    summary: `does ${name.toLowerCase()}`,
    arguments: [],
    reply: 'OK',
    handler: ({ reply }) => reply.simple('OK'),
    ...extra,
  };
}

const PUT = spec('PUTX', {
  arity: -4,
  flags: ['write', 'blocking'],
  group: 'tree',
  arguments: [
    { name: 'tree', type: 'key' },
    { name: 'ttl', type: 'integer' },
    { name: 'pair', type: 'block', multiple: true, arguments: [{ name: 'key', type: 'string' }, { name: 'value', type: 'string' }] },
    { name: 'mode', type: 'oneof', optional: true, arguments: [{ name: 'nx', type: 'pure-token', token: 'NX' }, { name: 'xx', type: 'pure-token', token: 'XX' }] },
    { name: 'limit', type: 'integer', token: 'LIMIT', optional: true },
  ],
  reply: 'The new root id.',
});
const CONTAINER = spec('THING', {
  arity: -2,
  subcommands: [spec('THING|ONE', { arity: 2 }), spec('THING|TWO', { arity: 3, arguments: [{ name: 'x', type: 'string', display_text: 'the-x' }] })],
});

function encode(protocol: 2 | 3, build: (w: ReplyBuffer) => void): ReturnType<typeof parseAll> {
  const w = new ReplyBuffer();
  w.protocol = protocol;
  build(w);
  const chunks: Uint8Array[] = [];
  w.flush({ write: (c) => (chunks.push(c), true) });
  return parseAll(Buffer.concat(chunks)).map(text);
}

describe('CommandRegistry', () => {
  it('resolves names in any case, and subcommands by full name', () => {
    const r = new CommandRegistry().register(PUT, CONTAINER);
    expect(r.resolve('PUTX')?.spec).toBe(PUT);
    expect(r.resolve('putx')?.fullName).toBe('putx');
    expect(r.resolve('PuTx')?.spec).toBe(PUT);
    expect(r.resolve('nope')).toBeUndefined();
    expect(r.lookup('thing|two')?.name).toBe('THING|TWO');
    expect(r.lookup('THING ONE')?.name).toBe('THING|ONE');
    expect(r.resolve('thing')?.subcommands?.get('TWO')?.fullName).toBe('thing|two');
    expect(r.size).toBe(2);
  });

  it('precomputes dispatch flags', () => {
    const r = new CommandRegistry().register(PUT, spec('AUTHX', { flags: ['noauth'] }));
    expect(r.resolve('putx')).toMatchObject({ blocking: true, noauth: false });
    expect(r.resolve('authx')).toMatchObject({ blocking: false, noauth: true });
  });

  it('refuses malformed specs', () => {
    expect(() => new CommandRegistry().register(PUT, PUT)).toThrow('registered twice');
    expect(() => new CommandRegistry().register(spec('lower'))).toThrow('upper case');
    expect(() => new CommandRegistry().register(spec('ZERO', { arity: 0 }))).toThrow('arity 0');
    expect(() => new CommandRegistry().register(spec('A', { arguments: [{ name: 'x', type: 'oneof' }] }))).toThrow('needs nested arguments');
    expect(() => new CommandRegistry().register(spec('A', { arguments: [{ name: 'x', type: 'pure-token' }] }))).toThrow('needs a token');
    expect(() => new CommandRegistry().register(spec('A', { subcommands: [spec('B|C')] }))).toThrow('must be named A|');
  });

  it('writes COMMAND INFO entries with key positions', () => {
    const r = new CommandRegistry().register(PUT, CONTAINER);
    const [put, missing] = encode(2, (w) => r.writeInfo(w, ['putx', 'nope']))[0] as unknown[];
    expect(put).toEqual(['putx', -4, ['write', 'blocking'], 1, 1, 1, ['@write', '@slow', '@tree'], [], [], []]);
    expect(missing).toBeNull();
    const [all] = encode(2, (w) => r.writeInfo(w));
    const thing = (all as unknown[][])[1];
    expect(thing[0]).toBe('thing');
    expect((thing[9] as unknown[][]).map((e) => e[0])).toEqual(['thing|one', 'thing|two']);
  });

  it('writes COMMAND DOCS as bulk keys and maps, in both protocols', () => {
    const r = new CommandRegistry().register(PUT, CONTAINER);
    const [docs3] = encode(3, (w) => r.writeDocs(w, ['putx', 'thing', 'nope']));
    const map = docs3 as Map<string, Map<string, unknown>>;
    expect([...map.keys()]).toEqual(['putx', 'thing']);
    const put = map.get('putx')!;
    expect(put.get('summary')).toBe('does putx');
    const args = put.get('arguments') as Array<Map<string, unknown>>;
    expect(args.map((a) => a.get('name'))).toEqual(['tree', 'ttl', 'pair', 'mode', 'limit']);
    expect(args[4]).toEqual(new Map<string, unknown>([['name', 'limit'], ['type', 'integer'], ['token', 'LIMIT'], ['flags', ['optional']]]));
    const subs = map.get('thing')!.get('subcommands') as Map<string, Map<string, unknown>>;
    expect([...subs.keys()]).toEqual(['thing|one', 'thing|two']);
    const [docs2] = encode(2, (w) => r.writeDocs(w, ['thing']));
    expect((docs2 as unknown[]).length).toBe(2);
  });

  it('lists every command and subcommand', () => {
    const r = new CommandRegistry().register(PUT, CONTAINER);
    expect(encode(2, (w) => r.writeList(w))).toEqual([['putx', 'thing', 'thing|one', 'thing|two']]);
  });
});

describe('command text helpers', () => {
  it('checks arity the Redis way', () => {
    expect(arityAccepts(2, 2)).toBe(true);
    expect(arityAccepts(2, 3)).toBe(false);
    expect(arityAccepts(-2, 5)).toBe(true);
    expect(arityAccepts(-2, 1)).toBe(false);
  });

  it("formats Redis's unknown command text, cut at 128 bytes and at NUL", () => {
    const b = (s: string): Buffer => Buffer.from(s, 'latin1');
    expect(unknownCommandText([b('foo'), b('a'), b('b')])).toBe("ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
    expect(unknownCommandText([b('foo')])).toBe("ERR unknown command 'foo', with args beginning with: ");
    expect(unknownCommandText([b('x'.repeat(200))])).toBe(`ERR unknown command '${'x'.repeat(128)}', with args beginning with: `);
    expect(unknownCommandText([b('f\0oo'), b('\xff')])).toBe("ERR unknown command 'f', with args beginning with: '\xff' ");
    const args = unknownCommandText([b('f'), b('a'.repeat(100)), b('b'.repeat(100)), b('c')]);
    expect(args).toBe(`ERR unknown command 'f', with args beginning with: '${'a'.repeat(100)}' '${'b'.repeat(25)}' `);
    expect(unknownSubcommandText('CLIENT', b('bar'))).toBe("ERR unknown subcommand 'bar'. Try CLIENT HELP.");
  });

  it('renders usage lines like the Redis docs', () => {
    expect(syntax(PUT)).toBe('PUTX tree ttl key value [key value ...] [NX | XX] [LIMIT limit]');
    expect(syntax(CONTAINER.subcommands![1])).toBe('THING TWO the-x');
    const ab = [{ name: 'a', type: 'pure-token', token: 'A' }, { name: 'b', type: 'pure-token', token: 'B' }] as const;
    expect(syntax(spec('C', { arguments: [{ name: 'dir', type: 'oneof', arguments: [...ab] }] }))).toBe('C <A | B>');
    expect(syntax(spec('C', { arguments: [{ name: 'dir', type: 'oneof', optional: true, arguments: [...ab] }] }))).toBe('C [A | B]');
    expect(syntax(spec('C', { arguments: [{ name: 'dir', type: 'oneof', token: 'DIR', optional: true, arguments: [...ab] }] }))).toBe('C [DIR <A | B>]');
    expect(syntax(spec('C', { arguments: [{ name: 'id', type: 'integer', token: 'ID', optional: true, multiple: true }] }))).toBe('C [ID id [id ...]]');
  });
});

describe('README command reference', () => {
  it('renders every command under its group', () => {
    const md = new CommandRegistry().register(PUT, CONTAINER).renderMarkdown();
    expect(md).toContain('### test\n');
    expect(md).toContain('### tree\n');
    expect(md).toContain('#### PUTX\n\n```\nPUTX tree ttl key value [key value ...] [NX | XX] [LIMIT limit]\n```\n\ndoes putx\n\n**Reply:** The new root id.');
    expect(md).toContain('#### THING ONE');
    expect(md).toContain('#### THING TWO');
    expect(md).not.toContain('#### THING\n');
  });

  it('rewrites only the marked block and says whether it changed', () => {
    const readme = `# Title\n\n${README_START}\nold\n${README_END}\n\nTail\n`;
    const first = updateReadmeCommands(readme, 'new text\n');
    expect(first).toEqual({ text: `# Title\n\n${README_START}\nnew text\n${README_END}\n\nTail\n`, changed: true });
    expect(updateReadmeCommands(first.text, 'new text')).toEqual({ text: first.text, changed: false });
    expect(() => updateReadmeCommands('# no markers', 'x')).toThrow('markers');
  });
});
