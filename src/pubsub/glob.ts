/**
 * Redis's glob (util.c `stringmatchlen`, case-sensitive) on raw bytes: `*`, `?`, `[abc]`,
 * `[^a-z]`, `\x` escapes. Ported rather than translated to a RegExp so the corner cases match
 * byte for byte: an unclosed `[` treats the rest as the set, a reversed range `[z-a]` is read
 * as `[a-z]`, and a trailing `\` stands for itself.
 */
export function globMatch(pattern: Uint8Array, subject: Uint8Array): boolean {
  return match(pattern, 0, subject, 0, 0, { skipLonger: false });
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const BACKSLASH = 0x5c;
const DASH = 0x2d;
/** Redis stops nested `*` recursion here: a pathological pattern then fails instead of hanging. */
const MAX_NESTING = 1000;

/** C's `char` is signed here: a range compares bytes from 0x80 up as negative, and so do we. */
function signed(b: number): number {
  return b > 0x7f ? b - 0x100 : b;
}

/**
 * `skipLonger`: once the rest after a `*` matched nowhere in the subject, no earlier `*` can
 * help by matching more (Redis's guard against exponential patterns).
 */
function match(p: Uint8Array, pi: number, s: Uint8Array, si: number, nesting: number, state: { skipLonger: boolean }): boolean {
  if (nesting > MAX_NESTING) return false;
  while (pi < p.length && si < s.length) {
    const c = p[pi];
    if (c === STAR) {
      while (pi + 1 < p.length && p[pi + 1] === STAR) pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k < s.length; k++) {
        if (match(p, pi + 1, s, k, nesting + 1, state)) return true;
        if (state.skipLonger) return false;
      }
      state.skipLonger = true;
      return false;
    }
    if (c === QUESTION) {
      si++;
    } else if (c === OPEN) {
      pi++;
      const not = p[pi] === CARET;
      if (not) pi++;
      let matched = false;
      for (;;) {
        if (pi < p.length && p[pi] === BACKSLASH && pi + 1 < p.length) {
          pi++;
          if (p[pi] === s[si]) matched = true;
        } else if (pi < p.length && p[pi] === CLOSE) {
          break;
        } else if (pi >= p.length) {
          pi--;
          break;
        } else if (pi + 2 < p.length && p[pi + 1] === DASH) {
          let start = signed(p[pi]);
          let end = signed(p[pi + 2]);
          if (start > end) [start, end] = [end, start];
          pi += 2;
          const c = signed(s[si]);
          if (c >= start && c <= end) matched = true;
        } else if (p[pi] === s[si]) {
          matched = true;
        }
        pi++;
      }
      if (not) matched = !matched;
      if (!matched) return false;
      si++;
    } else {
      if (c === BACKSLASH && pi + 1 < p.length) pi++;
      if (p[pi] !== s[si]) return false;
      si++;
    }
    pi++;
    if (si === s.length) {
      while (pi < p.length && p[pi] === STAR) pi++;
      break;
    }
  }
  return pi === p.length && si === s.length;
}
