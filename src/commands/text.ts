/** Argument bytes as text, one char per byte (what Redis's error lines echo). */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** Redis's string2ll: a canonical decimal integer (no sign `+`, no leading zeros, no spaces). */
export function parseInteger(bytes: Uint8Array): number | undefined {
  const text = latin1(bytes);
  if (!/^-?(0|[1-9][0-9]{0,17})$/.test(text) || text === '-0') return undefined;
  return Number(text);
}
