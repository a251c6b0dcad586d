import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type KeyPair, keyName, keyPairFromSeed, parseKey } from './identity.ts';

/** A KEYPAIR document (Name, PublicKey, PrivateKey), or undefined when it is not a valid one. */
export function parseKeyPairFile(text: string): (KeyPair & { name: string }) | undefined {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  if (typeof d.Name !== 'string' || typeof d.PublicKey !== 'string' || typeof d.PrivateKey !== 'string') return undefined;
  try {
    const kp = keyPairFromSeed(parseKey(d.PrivateKey, 'PrivateKey'));
    // A file whose fields disagree proves nothing: only a Name derived from the key counts.
    if (!kp.publicKey.equals(parseKey(d.PublicKey, 'PublicKey')) || keyName(kp.publicKey) !== d.Name) return undefined;
    return { ...kp, name: d.Name };
  } catch {
    return undefined;
  }
}

/**
 * The key pairs of the keys dir, read on demand: the one whose Name is asked for, found by
 * reading the YAML files there. Files that are not key pairs are skipped.
 */
export class KeysDir {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async find(name: string): Promise<KeyPair | undefined> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    for (const f of files.filter((n) => /\.ya?ml$/.test(n)).sort()) {
      let text: string;
      try {
        text = await readFile(join(this.dir, f), 'utf8');
      } catch {
        continue;
      }
      const kp = parseKeyPairFile(text);
      if (kp?.name === name) return { publicKey: kp.publicKey, privateKey: kp.privateKey };
    }
    return undefined;
  }
}
