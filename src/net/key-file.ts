import { CrissError } from '../errors.ts';
import { parseMapping, text } from './cluster-file.ts';
import { keyName, keyPairFromSeed, parseKey } from './identity.ts';

/** A key file of the keys dir (docs/format.md §15): what `KEYPAIR` prints, or its public half. */
export interface KeyEntry {
  /** The pointer name: a tagged hash of the public key. */
  name: string;
  publicKey: Buffer;
  /** Absent in a file that holds someone else's public key only. */
  privateKey?: Buffer;
}

const FIELDS = new Set(['Name', 'PublicKey', 'PrivateKey']);

/** A key file from its YAML; throws a CrissError saying what is wrong. */
export function parseKeyFile(yamlText: string): KeyEntry {
  const d = parseMapping(yamlText, FIELDS);
  const publicKey = parseKey(text(d, 'PublicKey'), 'PublicKey');
  const name = text(d, 'Name');
  if (name !== keyName(publicKey)) throw new CrissError('ERR', 'Name does not match PublicKey');
  const entry: KeyEntry = { name, publicKey };
  if (d.PrivateKey !== undefined) {
    const seed = parseKey(text(d, 'PrivateKey'), 'PrivateKey');
    if (!keyPairFromSeed(seed).publicKey.equals(publicKey)) throw new CrissError('ERR', 'PrivateKey does not belong to PublicKey');
    entry.privateKey = seed;
  }
  return entry;
}
