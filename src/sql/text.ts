// A leading U+FEFF is text like any other: TextDecoder would drop it by default.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The UTF-8 text of `b[start..stop)`; short ASCII is decoded here: a TextDecoder call costs more than the loop. */
export function textAt(b: Uint8Array, start: number, stop: number): string {
  if (stop - start <= 32) {
    let s = '';
    for (let i = start; i < stop; i++) {
      const c = b[i];
      if (c >= 0x80) return utf8.decode(b.subarray(start, stop));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b.subarray(start, stop));
}
