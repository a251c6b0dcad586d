/** The frames of the push protocol and its signed request (docs/blocks-protocol.md, "Push"). */
import { randomBytes } from 'node:crypto';
import { CrissError } from '../errors.ts';
import { ID_BYTES, type Id } from '../store/id.ts';
import { SIGNATURE_BYTES, framed, signEd25519 } from './identity.ts';

export const TAG_PUSH = 'crisscross/push/v1';
/** How long a request a pusher signs stays valid. */
export const PUSH_VALID_MS = 2 * 60_000;
export const NONCE_BYTES = 16;
const MAX_NAME_BYTES = 64;
const U64_BYTES = 8;
const REQUEST = 0x01;
const PROGRESS = 0x02;
const ACCEPTED = 0x03;
const REFUSED = 0x04;
const TAG_BYTES = Buffer.byteLength(TAG_PUSH);
export const MAX_REQUEST = 1 + 7 * 4 + TAG_BYTES + MAX_NAME_BYTES + ID_BYTES + 3 * U64_BYTES + NONCE_BYTES + SIGNATURE_BYTES;
const MAX_MESSAGE_BYTES = 200;
export const MAX_REPLY = 2 + MAX_MESSAGE_BYTES;

/** Why a receiver refused a push: the code on the wire (docs/blocks-protocol.md). */
export const REFUSALS = {
  MALFORMED: 1,
  BADSIG: 2,
  EXPIRED: 3,
  REPLAY: 4,
  WRONGCLUSTER: 5,
  DISABLED: 6,
  TTL: 7,
  TOOLARGE: 8,
  OVERSIZE: 9,
  FAILED: 10,
  BUSY: 11,
} as const;
export type Refusal = keyof typeof REFUSALS;
const REFUSAL_OF = new Map<number, Refusal>((Object.entries(REFUSALS) as Array<[Refusal, number]>).map(([k, v]) => [v, k]));

/** What a pusher asks: store `root` for `ttlMs`; it states the tree's size, which it signs. */
export interface PushRequest {
  cluster: string;
  root: Id;
  ttlMs: number;
  /** Bytes of every distinct block the root reaches, links included. */
  size: number;
  nonce: Buffer;
  /** Epoch ms after which the request is void. */
  expiresAt: number;
}

export type PushOutcome =
  | { accepted: true; bytes: number }
  | { accepted: false; reason: Refusal | 'UNREACHABLE'; message: string };

/** A receiver's refusal, from admission or from the transfer (OVERSIZE). */
export class PushRefused extends CrissError {
  readonly reason: Refusal;

  constructor(reason: Refusal, message: string) {
    super('ERR', message);
    this.name = 'PushRefused';
    this.reason = reason;
  }
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(U64_BYTES);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function readU64(b: Uint8Array, what: string): number {
  const n = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64BE();
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new PushRefused('MALFORMED', `${what} is out of range`);
  return Number(n);
}

export function newPushRequest(cluster: string, root: Id, ttlMs: number, size: number, now = Date.now()): PushRequest {
  return { cluster, root, ttlMs, size, nonce: randomBytes(NONCE_BYTES), expiresAt: now + PUSH_VALID_MS };
}

/** The signed bytes: framed(TAG_PUSH, Name, root, ttl, size, nonce, expiry), docs/blocks-protocol.md. */
export function pushBody(r: PushRequest): Buffer {
  return framed(TAG_PUSH, Buffer.from(r.cluster, 'utf8'), r.root, u64(r.ttlMs), u64(r.size), r.nonce, u64(r.expiresAt));
}

/** A REQUEST frame: the body as signed, then its signature. */
export function requestFrame(body: Uint8Array, signature: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(REQUEST), body, signature]);
}

export function signPush(r: PushRequest, privateKey: Uint8Array): Buffer {
  const body = pushBody(r);
  return requestFrame(body, signEd25519(privateKey, body));
}

const FIELD_BYTES = [undefined, ID_BYTES, U64_BYTES, U64_BYTES, NONCE_BYTES, U64_BYTES];

/** A REQUEST frame's request, signed body and signature; PushRefused MALFORMED if it breaks the layout. */
export function parsePush(frame: Uint8Array): { request: PushRequest; body: Buffer; signature: Buffer } {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b.length < 1 + SIGNATURE_BYTES || b[0] !== REQUEST) throw new PushRefused('MALFORMED', 'not a push request');
  const body = b.subarray(1, b.length - SIGNATURE_BYTES);
  const fields: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 4) throw new PushRefused('MALFORMED', 'truncated field length');
    const len = body.readUInt32BE(at);
    if (len > body.length - at - 4) throw new PushRefused('MALFORMED', 'truncated field');
    fields.push(body.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (fields.length !== 7 || fields[0].toString('utf8') !== TAG_PUSH) throw new PushRefused('MALFORMED', 'not a push request of this version');
  const [name, root, ttl, size, nonce, expiry] = fields.slice(1);
  FIELD_BYTES.forEach((n, i) => {
    if (n !== undefined && fields[i + 1].length !== n) throw new PushRefused('MALFORMED', `field ${i + 1} is not ${n} bytes`);
  });
  if (name.length === 0 || name.length > MAX_NAME_BYTES) throw new PushRefused('MALFORMED', 'bad cluster name');
  const request: PushRequest = {
    cluster: name.toString('utf8'),
    root: Buffer.from(root),
    ttlMs: readU64(ttl, 'ttl'),
    size: readU64(size, 'size'),
    nonce: Buffer.from(nonce),
    expiresAt: readU64(expiry, 'expiry'),
  };
  if (request.ttlMs === 0) throw new PushRefused('MALFORMED', 'ttl must be at least 1 ms');
  return { request, body, signature: b.subarray(b.length - SIGNATURE_BYTES) };
}

export function refusedFrame(reason: Refusal, message: string): Buffer {
  return Buffer.concat([Buffer.of(REFUSED, REFUSALS[reason]), Buffer.from(message, 'utf8').subarray(0, MAX_MESSAGE_BYTES)]);
}

export function progressFrame(bytes: number): Buffer {
  return Buffer.concat([Buffer.of(PROGRESS), u64(bytes)]);
}

export function acceptedFrame(bytes: number): Buffer {
  return Buffer.concat([Buffer.of(ACCEPTED), u64(bytes)]);
}

/** A receiver's frame: PROGRESS (undefined), or its verdict; throws on anything else. */
export function parseReply(f: Uint8Array): PushOutcome | undefined {
  if (f[0] === PROGRESS && f.length === 1 + U64_BYTES) return undefined;
  if (f[0] === ACCEPTED && f.length === 1 + U64_BYTES) return { accepted: true, bytes: readU64(f.subarray(1), 'bytes') };
  const reason = f[0] === REFUSED && f.length >= 2 ? REFUSAL_OF.get(f[1]) : undefined;
  if (reason === undefined) throw new CrissError('ERR', 'malformed push reply');
  return { accepted: false, reason, message: Buffer.from(f.subarray(2)).toString('utf8') };
}

