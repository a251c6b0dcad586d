import { describe, expect, it } from 'vitest';
import { Float, Link, Tuple, encodeBytes, encodeValue, type Value } from '../../src/codec/index.ts';
import { renderValue } from '../../src/cli/render.ts';
import { idOf } from '../../src/store/id.ts';

describe('renderValue', () => {
  it('prints bytes and strings as their raw bytes', () => {
    expect(renderValue(encodeBytes(Buffer.from([0, 255, 10])))).toEqual(Buffer.from([0, 255, 10]));
    expect(renderValue(encodeValue('ünï')).toString()).toBe('ünï');
  });

  it('prints other types as literals', () => {
    const id = idOf(Buffer.from('block'));
    const value = new Map<Value, Value>([
      ['list', [1, -(2n ** 70n), 2.5, new Float(3), null, true]],
      ['tuple', new Tuple(['a', new Uint8Array([1, 2])])],
      ['link', new Link(id)],
    ]);
    const text = renderValue(encodeValue(value)).toString();
    expect(text).toContain(`"list": [1, ${-(2n ** 70n)}, 2.5, 3.0, nil, true]`);
    expect(text).toContain('"tuple": ("a", 0x0102)');
    expect(text).toMatch(/"link": link:Qm[1-9A-HJ-NP-Za-km-z]{44}/);
  });
});
