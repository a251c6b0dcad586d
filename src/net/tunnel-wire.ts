import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { CrissError } from '../errors.ts';
import { KEY_BYTES, framed, parseKey, sha256 } from './identity.ts';

/** docs/tunnel-protocol.md */
export const TUNNEL_PROTOCOL = '/crisscross/tunnel/1.0.0';
export const TAG_TUNNEL_PROOF = 'crisscross/tunnel-proof/v1';
export const TAG_TUNNEL_PROVIDE = 'crisscross/tunnel-provide/v1';
export const CHALLENGE_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const MAX_HOST_BYTES = 253;
export const MAX_PASSPHRASE_BYTES = 1024;
/** Larger than any handshake frame (the longest is an AUTH with the longest passphrase). */
export const MAX_HANDSHAKE_FRAME = 2048;

const HELLO = 0x01;
const PROOF = 0x02;
const AUTH = 0x03;
const RESULT = 0x04;
const SHA2_256 = 0x12;
const RAW = 0x55;

export type Mode = 'connect' | 'check';

export interface Hello {
  mode: Mode;
  /** The tunnel's Name: 32 bytes, the tagged hash of the key's public half. */
  name: Buffer;
  challenge: Buffer;
  host: string;
  port: number;
}

/** What a RESULT says; the server sends anything but `refused` only to a client that knew a passphrase of the Name. */
export const RESULTS = ['ok', 'refused', 'notallowed', 'limit', 'unreachable', 'nokey'] as const;
export type ResultCode = (typeof RESULTS)[number];

export interface Result {
  code: ResultCode;
  message: string;
}

export function nameBytes(name: string): Buffer {
  return parseKey(name, 'the tunnel Name');
}

/** The DHT key a tunnel is provided under: apart from root CIDs by its tag. */
export function tunnelCid(name: Uint8Array): CID {
  return CID.createV1(RAW, Digest.create(SHA2_256, sha256(framed(TAG_TUNNEL_PROVIDE, name))));
}

function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
}

/**
 * What the server signs: the client's challenge and the whole request, and both peer ids, so a
 * proof made for one client, target or connection is worth nothing for another.
 */
export function proofMessage(h: Hello, clientPeer: Uint8Array, serverPeer: Uint8Array): Buffer {
  return framed(TAG_TUNNEL_PROOF, h.challenge, h.name, Buffer.from(h.host, 'utf8'), u16(h.port), Buffer.of(h.mode === 'check' ? 1 : 0), clientPeer, serverPeer);
}

function violation(what: string): CrissError {
  return new CrissError('PROTOCOL', `tunnel handshake: ${what}`);
}

export function validHost(host: string): boolean {
  const n = Buffer.byteLength(host, 'utf8');
  return n >= 1 && n <= MAX_HOST_BYTES && !/[\0-\x20]/.test(host);
}

export function encodeHello(h: Hello): Buffer {
  return Buffer.concat([Buffer.of(HELLO, h.mode === 'check' ? 1 : 0), h.name, h.challenge, u16(h.port), Buffer.from(h.host, 'utf8')]);
}

export function decodeHello(f: Uint8Array): Hello {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  const head = 2 + KEY_BYTES + CHALLENGE_BYTES + 2;
  if (b.length <= head || b[0] !== HELLO || b[1] > 1) throw violation('bad HELLO');
  const host = b.subarray(head).toString('utf8');
  const port = b.readUInt16BE(head - 2);
  if (!validHost(host) || port === 0) throw violation('bad host or port in HELLO');
  return {
    mode: b[1] === 1 ? 'check' : 'connect',
    name: Buffer.from(b.subarray(2, 2 + KEY_BYTES)),
    challenge: Buffer.from(b.subarray(2 + KEY_BYTES, 2 + KEY_BYTES + CHALLENGE_BYTES)),
    host,
    port,
  };
}

export function encodeProof(publicKey: Uint8Array, signature: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(PROOF), publicKey, signature]);
}

/** A PROOF, or the RESULT an honest server without the key sends instead. */
export function decodeProof(f: Uint8Array): { publicKey: Buffer; signature: Buffer } | Result {
  if (f[0] === RESULT) return decodeResult(f);
  if (f.length !== 1 + KEY_BYTES + SIGNATURE_BYTES || f[0] !== PROOF) throw violation('bad PROOF');
  const b = Buffer.from(f);
  return { publicKey: b.subarray(1, 1 + KEY_BYTES), signature: b.subarray(1 + KEY_BYTES) };
}

export function encodeAuth(passphrase: string): Buffer {
  return Buffer.concat([Buffer.of(AUTH), Buffer.from(passphrase, 'utf8')]);
}

export function decodeAuth(f: Uint8Array): string {
  if (f.length < 2 || f.length > 1 + MAX_PASSPHRASE_BYTES || f[0] !== AUTH) throw violation('bad AUTH');
  return Buffer.from(f.subarray(1)).toString('utf8');
}

export function encodeResult(r: Result): Buffer {
  return Buffer.concat([Buffer.of(RESULT, RESULTS.indexOf(r.code)), Buffer.from(r.message.slice(0, 200), 'utf8')]);
}

export function decodeResult(f: Uint8Array): Result {
  if (f.length < 2 || f[0] !== RESULT || f[1] >= RESULTS.length) throw violation('bad RESULT');
  return { code: RESULTS[f[1]], message: Buffer.from(f.subarray(2)).toString('utf8') };
}
