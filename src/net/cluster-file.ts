import { hkdfSync } from 'node:crypto';
import { multiaddr } from '@multiformats/multiaddr';
import { parse, stringify } from 'yaml';
import { CrissError } from '../errors.ts';
import {
  KEY_BYTES, TAG_CLUSTER_NAME, TAG_DHT_PROTOCOL, TAG_PSK, framed, keyName, keyPairFromSeed, keyText, newKeyPair, newSecret, parseKey, sha256,
  type KeyPair,
} from './identity.ts';

/** A cluster as its YAML file defines it (docs/format.md §15). */
export interface Cluster {
  name: string;
  cypher: Buffer;
  publicKey: Buffer;
  /** Only a holder of it may ask others to store (push) and publish cluster-signed records. */
  privateKey?: Buffer;
  /** Longest pin (ms) this node grants a push; 0 refuses every push. */
  maxTtlMs: number;
  /** Largest tree (bytes) this node accepts in one push; 0 refuses every push. */
  maxAcceptedSize: number;
  /** Multiaddrs (with /p2p/<peer id>) of members to dial at start. */
  bootstrap: string[];
  /** The libp2p listen port; absent: one chosen on first start and kept in the data dir. */
  port?: number;
}

export const DEFAULT_MAX_TTL_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_MAX_ACCEPTED_SIZE = 1024 * 1024 * 1024;

/** Base58 of a tagged hash of Cypher and PublicKey: the Name commits to both, so a file cannot lie about either. */
export function clusterName(cypher: Uint8Array, publicKey: Uint8Array): string {
  return keyText(sha256(framed(TAG_CLUSTER_NAME, cypher, publicKey)));
}

/** The 32-byte key of the connection protector: HKDF of the Cypher, so the Cypher itself never keys a cipher. */
export function clusterPsk(cypher: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', cypher, Buffer.alloc(0), framed(TAG_PSK), KEY_BYTES));
}

/** The cluster's own Kademlia protocol id: from the Cypher, so nothing on the wire names the cluster. */
export function dhtProtocol(cypher: Uint8Array): string {
  return `/crisscross/kad/${sha256(framed(TAG_DHT_PROTOCOL, cypher)).subarray(0, 8).toString('hex')}/1.0.0`;
}

/** A fresh cluster: Cypher and key pair from the CSPRNG. */
export function newCluster(opts: { maxTtlMs?: number; maxAcceptedSize?: number } = {}): Cluster {
  const cypher = newSecret();
  const kp = newKeyPair();
  return {
    name: clusterName(cypher, kp.publicKey),
    cypher,
    publicKey: kp.publicKey,
    privateKey: kp.privateKey,
    maxTtlMs: opts.maxTtlMs ?? DEFAULT_MAX_TTL_MS,
    maxAcceptedSize: opts.maxAcceptedSize ?? DEFAULT_MAX_ACCEPTED_SIZE,
    bootstrap: [],
  };
}

export function renderCluster(c: Cluster): string {
  const doc: Record<string, unknown> = { Name: c.name, Cypher: keyText(c.cypher), PublicKey: keyText(c.publicKey) };
  if (c.privateKey !== undefined) doc.PrivateKey = keyText(c.privateKey);
  doc.MaxTTL = c.maxTtlMs;
  doc.MaxAcceptedSize = c.maxAcceptedSize;
  if (c.bootstrap.length > 0) doc.Bootstrap = c.bootstrap;
  if (c.port !== undefined) doc.Port = c.port;
  return stringify(doc);
}

export function renderKeyPair(kp: KeyPair): string {
  return stringify({ Name: keyName(kp.publicKey), PublicKey: keyText(kp.publicKey), PrivateKey: keyText(kp.privateKey) });
}

const FIELDS = new Set(['Name', 'Cypher', 'PublicKey', 'PrivateKey', 'MaxTTL', 'MaxAcceptedSize', 'Bootstrap', 'Port']);

function bad(message: string): CrissError {
  return new CrissError('ERR', message);
}

/** A field that must be a non-empty string. */
export function text(doc: Record<string, unknown>, field: string): string {
  const v = doc[field];
  if (typeof v !== 'string' || v === '') throw bad(`${field} is missing or not a string`);
  return v;
}

function count(doc: Record<string, unknown>, field: string, dflt: number): number {
  const v = doc[field];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${field} must be a non-negative integer`);
  return v;
}

/** A YAML mapping with only the given fields (unknown ones are refused: a typo must not pass silently). */
export function parseMapping(yamlText: string, fields: ReadonlySet<string>): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(yamlText);
  } catch (e) {
    throw bad(`not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a YAML mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!fields.has(k)) throw bad(`unknown field ${k}`);
  return d;
}

/** A cluster from its YAML; throws a CrissError saying what is wrong. */
export function parseCluster(yamlText: string): Cluster {
  const d = parseMapping(yamlText, FIELDS);
  const cypher = parseKey(text(d, 'Cypher'), 'Cypher');
  const publicKey = parseKey(text(d, 'PublicKey'), 'PublicKey');
  const name = text(d, 'Name');
  if (name !== clusterName(cypher, publicKey)) throw bad('Name does not match Cypher and PublicKey');
  const c: Cluster = {
    name,
    cypher,
    publicKey,
    maxTtlMs: count(d, 'MaxTTL', DEFAULT_MAX_TTL_MS),
    maxAcceptedSize: count(d, 'MaxAcceptedSize', DEFAULT_MAX_ACCEPTED_SIZE),
    bootstrap: bootstrapOf(d.Bootstrap),
  };
  if (d.PrivateKey !== undefined) {
    const seed = parseKey(text(d, 'PrivateKey'), 'PrivateKey');
    if (!keyPairFromSeed(seed).publicKey.equals(publicKey)) throw bad('PrivateKey does not belong to PublicKey');
    c.privateKey = seed;
  }
  if (d.Port !== undefined) {
    const port = d.Port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw bad('Port must be an integer from 1 to 65535');
    c.port = port;
  }
  return c;
}

function bootstrapOf(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad('Bootstrap must be a list of multiaddrs');
  return v.map((a) => {
    if (typeof a !== 'string') throw bad('Bootstrap must be a list of multiaddrs');
    let ma;
    try {
      ma = multiaddr(a);
    } catch {
      throw bad(`Bootstrap entry ${a.slice(0, 120)} is not a multiaddr`);
    }
    if (ma.getComponents().every((p) => p.name !== 'p2p')) throw bad(`Bootstrap entry ${a.slice(0, 120)} lacks /p2p/<peer id>`);
    return a;
  });
}
