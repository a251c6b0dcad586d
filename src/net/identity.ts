import { type KeyObject, createPrivateKey, createPublicKey, hash, hkdfSync, randomBytes, sign, verify } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { base58 } from '@scure/base';
import { CrissError } from '../errors.ts';

/** Ed25519 seeds and public keys, cluster Cyphers and the node secret are all 32 bytes. */
export const KEY_BYTES = 32;

export const TAG_CLUSTER_NAME = 'crisscross/cluster-name/v1';
export const TAG_KEY_NAME = 'crisscross/key-name/v1';
export const TAG_PEER_IDENTITY = 'crisscross/peer-identity/v1';
export const TAG_PSK = 'crisscross/cluster-psk/v1';
export const TAG_DHT_PROTOCOL = 'crisscross/dht-protocol/v1';

/**
 * Domain-separated input for every hash, derivation and signature (docs/format.md §15): the
 * tag, then each field, each preceded by its length as a 4-byte big-endian integer. Lengths
 * make the encoding injective, so no two field lists hash alike; the tag keeps one use's
 * output from ever being valid for another.
 */
export function framed(tag: string, ...fields: Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const f of [Buffer.from(tag, 'utf8'), ...fields]) {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(f.length);
    parts.push(len, f);
  }
  return Buffer.concat(parts);
}

export function sha256(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer');
}

/** 32 bytes from the operating system's CSPRNG. */
export function newSecret(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function keyText(key: Uint8Array): string {
  return base58.encode(key);
}

/** A 32-byte key from its base58 text; `what` names the field in the error. */
export function parseKey(text: string, what: string): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(text);
  } catch {
    throw new CrissError('ERR', `${what} is not base58`);
  }
  if (bytes.length !== KEY_BYTES) throw new CrissError('ERR', `${what} must be ${KEY_BYTES} bytes, not ${bytes.length}`);
  return Buffer.from(bytes);
}

export interface KeyPair {
  publicKey: Buffer;
  /** The 32-byte Ed25519 seed (RFC 8032's private key). */
  privateKey: Buffer;
}

// RFC 8410 PKCS#8 wrapping of a raw Ed25519 seed: node:crypto takes keys only in such containers.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return { publicKey: Buffer.from(spki.subarray(spki.length - KEY_BYTES)), privateKey: Buffer.from(seed) };
}

export const SIGNATURE_BYTES = 64;

/** An Ed25519 signature (RFC 8032, pure: the message itself is signed, not a prehash). */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Buffer {
  return sign(null, message, ed25519PrivateKey(seed));
}

/** A seed as node:crypto's key object (worth keeping: making one costs more than a signature). */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

/** A raw public key as node:crypto's key object; throws for bytes that are not a valid point. */
export function ed25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
}

// RFC 8410 SubjectPublicKeyInfo wrapping of a raw Ed25519 public key.
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** False for a bad signature and for a public key that is not a valid point alike. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, message, ed25519PublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

export function newKeyPair(): KeyPair {
  return keyPairFromSeed(newSecret());
}

/** A key pair's Name (what pointers are published under): base58 of a tagged hash of the public key. */
export function keyName(publicKey: Uint8Array): string {
  return keyText(sha256(framed(TAG_KEY_NAME, publicKey)));
}

/**
 * The Ed25519 seed of this node's identity in one cluster. HKDF keyed by the node secret: without
 * it, two clusters' peer ids of one node look unrelated, so memberships cannot be linked.
 */
export function peerSeed(nodeSecret: Uint8Array, cypher: Uint8Array, publicKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', nodeSecret, Buffer.alloc(0), framed(TAG_PEER_IDENTITY, cypher, publicKey), KEY_BYTES));
}

export const NODE_SECRET_FILE = 'node_secret';

/**
 * The node secret: `NODE_SECRET` (base58) when set, else the one in the data dir, else a new
 * one written there (mode 0600) so every restart keeps the same peer identities.
 */
export async function loadNodeSecret(dataDir: string, env: Record<string, string | undefined> = process.env): Promise<Buffer> {
  const given = env.NODE_SECRET;
  if (given !== undefined && given !== '') return parseKey(given.trim(), 'NODE_SECRET');
  const file = join(dataDir, NODE_SECRET_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) return parseKey(text.trim(), file);
  const secret = newSecret();
  // `wx`: two daemons racing on one data dir must not end up with different secrets silently.
  await writeFile(file, `${keyText(secret)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return secret;
}
