import type { Id } from '../store/id.ts';

/**
 * A set of ids for the collector's mark phase: millions of entries at 16 bytes each, where a
 * Set of strings costs ~80. It keeps 128 bits of each digest; two distinct blocks sharing them
 * is a 2^-128 event, and its only effect would be keeping a dead block.
 */
export class IdSet {
  private words: Uint32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 16) {
    let slots = 1 << 4;
    while (slots < capacity * 2) slots <<= 1;
    this.words = new Uint32Array(slots * 4);
    this.mask = slots - 1;
  }

  /** Adds the id; false when it was already there. */
  add(id: Id): boolean {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    return this.insert(word(id, 2), word(id, 6), word(id, 10), word(id, 14));
  }

  has(id: Id): boolean {
    const a = word(id, 2);
    const b = word(id, 6);
    const c = word(id, 10);
    let d = word(id, 14);
    if ((a | b | c | d) === 0) d = 1;
    const w = this.words;
    for (let s = a & this.mask; ; s = (s + 1) & this.mask) {
      const o = s * 4;
      if ((w[o] | w[o + 1] | w[o + 2] | w[o + 3]) === 0) return false;
      if (w[o] === a && w[o + 1] === b && w[o + 2] === c && w[o + 3] === d) return true;
    }
  }

  /** Bytes held, for INFO. */
  get bytes(): number {
    return this.words.byteLength;
  }

  private insert(a: number, b: number, c: number, d: number): boolean {
    // An all-zero digest prefix marks an empty slot; such an id is stored with one bit set.
    if ((a | b | c | d) === 0) d = 1;
    const w = this.words;
    for (let s = a & this.mask; ; s = (s + 1) & this.mask) {
      const o = s * 4;
      if ((w[o] | w[o + 1] | w[o + 2] | w[o + 3]) === 0) {
        w[o] = a;
        w[o + 1] = b;
        w[o + 2] = c;
        w[o + 3] = d;
        this.size++;
        return true;
      }
      if (w[o] === a && w[o + 1] === b && w[o + 2] === c && w[o + 3] === d) return false;
    }
  }

  private grow(): void {
    const old = this.words;
    this.words = new Uint32Array(old.length * 2);
    this.mask = this.words.length / 4 - 1;
    this.size = 0;
    for (let o = 0; o < old.length; o += 4) {
      if ((old[o] | old[o + 1] | old[o + 2] | old[o + 3]) !== 0) this.insert(old[o], old[o + 1], old[o + 2], old[o + 3]);
    }
  }
}

/** Four digest bytes as an unsigned word (the id's first two bytes are the multihash prefix). */
function word(id: Id, o: number): number {
  return ((id[o] << 24) | (id[o + 1] << 16) | (id[o + 2] << 8) | id[o + 3]) >>> 0;
}
