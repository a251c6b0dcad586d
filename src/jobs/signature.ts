import { type KeyObject, randomFillSync, sign, verify } from 'node:crypto';
import { KEY_BYTES, ed25519PrivateKey, ed25519PublicKey, framed, keyPairFromSeed, keyName } from '../net/identity.ts';

/** docs/format.md §16 */
export const TAG_JOB_ANSWER = 'crisscross/job-answer/v1';
export const NONCE_BYTES = 16;
const ED25519_SIGNATURE_BYTES = 64;
/** The signature value of an answer: the caller's nonce, then the Ed25519 signature. */
export const SIGNATURE_BYTES = NONCE_BYTES + ED25519_SIGNATURE_BYTES;


/** The exact bytes an answer's signature covers. */
export function answerMessage(service: string, method: Uint8Array, arg: Uint8Array, response: Uint8Array, nonce: Uint8Array): Buffer {
  return framed(TAG_JOB_ANSWER, Buffer.from(service, 'utf8'), method, arg, response, nonce);
}

/** Nonces are cut from a pool filled in one call: a CSPRNG call per nonce cost more than the rest of queueing a job. */
const NONCE_POOL_BYTES = 4096;
let noncePool = Buffer.alloc(0);
let nonceAt = 0;

export function newNonce(): Buffer {
  if (nonceAt + NONCE_BYTES > noncePool.length) {
    // A fresh pool each time, never refilled in place: nonces handed out are views into it.
    noncePool = randomFillSync(Buffer.allocUnsafe(NONCE_POOL_BYTES));
    nonceAt = 0;
  }
  nonceAt += NONCE_BYTES;
  return noncePool.subarray(nonceAt - NONCE_BYTES, nonceAt);
}

/** A service key ready to sign: made once per seed, since building a KeyObject costs more than a signature. */
export interface Signer {
  publicKey: Buffer;
  name: string;
  key: KeyObject;
}

const signers = new Map<string, Signer>();
const MAX_SIGNERS = 256;

export function signerOf(seed: Uint8Array): Signer {
  const hex = Buffer.from(seed).toString('hex');
  let s = signers.get(hex);
  if (s !== undefined) return s;
  const { publicKey } = keyPairFromSeed(seed);
  s = { publicKey, name: keyName(publicKey), key: ed25519PrivateKey(seed) };
  if (signers.size >= MAX_SIGNERS) signers.clear();
  signers.set(hex, s);
  return s;
}

const verifiers = new Map<string, KeyObject>();

/** Undefined for bytes that are not a valid Ed25519 point. */
function verifierOf(publicKey: Uint8Array): KeyObject | undefined {
  const hex = Buffer.from(publicKey).toString('hex');
  let key = verifiers.get(hex);
  if (key === undefined) {
    try {
      key = ed25519PublicKey(publicKey);
    } catch {
      return undefined;
    }
    if (verifiers.size >= MAX_SIGNERS) verifiers.clear();
    verifiers.set(hex, key);
  }
  return key;
}

/**
 * nonce ‖ Ed25519(answerMessage(…)), made on libuv's thread pool: a signature costs more of the
 * event loop than the rest of a job's round trip, and the loop has other clients to serve.
 */
export function signAnswer(signer: Signer, service: string, method: Uint8Array, arg: Uint8Array, response: Uint8Array, nonce: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(null, answerMessage(service, method, arg, response, nonce), signer.key, (err, sig) => {
      if (err !== null) reject(err);
      else resolve(Buffer.concat([nonce, sig]));
    });
  });
}

/**
 * Whether `signature` is `publicKey`'s signature of this answer to a call on `service`, and
 * `service` is that key's Name. With `nonce`, also whether it answers the call that chose it:
 * a recorded answer replayed for another call fails there.
 */
export function verifyAnswer(service: string, method: Uint8Array, arg: Uint8Array, response: Uint8Array, signature: Uint8Array, publicKey: Uint8Array, nonce?: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== KEY_BYTES) return false;
  if (keyName(publicKey) !== service) return false;
  const carried = signature.subarray(0, NONCE_BYTES);
  if (nonce !== undefined && Buffer.compare(carried, nonce) !== 0) return false;
  const key = verifierOf(publicKey);
  return key !== undefined && verify(null, answerMessage(service, method, arg, response, carried), key, signature.subarray(NONCE_BYTES));
}
