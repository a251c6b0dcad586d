import { type Cipher, createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { AbortOptions, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface';
import { AbstractMultiaddrConnection, byteStream, type SendResult } from '@libp2p/utils';
import type { Uint8ArrayList } from 'uint8arraylist';
import { framed } from './identity.ts';

export const NONCE_BYTES = 24;
const TAG_LINK = 'crisscross/link-key/v1';
const HANDSHAKE_TIMEOUT_MS = 5000;

/**
 * The key one side encrypts with: HKDF of the cluster key, salted with that side's nonce and
 * bound to its role, so a reflected nonce never makes both directions share a keystream.
 */
function linkKey(psk: Uint8Array, nonce: Uint8Array, role: 'dialer' | 'listener'): Buffer {
  return Buffer.from(hkdfSync('sha256', psk, nonce, framed(TAG_LINK, Buffer.from(role)), 32));
}

function chacha(key: Buffer): Cipher {
  // A fresh key per connection and direction, so the all-zero counter and nonce never repeat under one key.
  return createCipheriv('chacha20', key, Buffer.alloc(16));
}

/** The connection wrapped in ChaCha20 both ways (what @libp2p/pnet does with pure-JS XSalsa20). */
class ChachaConnection extends AbstractMultiaddrConnection {
  private readonly inner: MultiaddrConnection;
  private readonly out: Cipher;

  constructor(inner: MultiaddrConnection, outKey: Buffer, inKey: Buffer) {
    super({ remoteAddr: inner.remoteAddr, direction: inner.direction, log: inner.log.newScope('protector') });
    this.inner = inner;
    this.out = chacha(outKey);
    const decrypt = chacha(inKey);
    inner.addEventListener('message', (evt) => {
      const data = evt.data;
      if (data instanceof Uint8Array) this.onData(decrypt.update(data));
      else for (const buf of data) this.onData(decrypt.update(buf));
    });
    inner.addEventListener('drain', () => this.onMuxerDrain());
    inner.addEventListener('close', (evt) => {
      if (evt.error === undefined) this.onTransportClosed();
      else if (evt.local) this.abort(evt.error);
      else this.onRemoteReset();
    });
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    await this.inner.close(options);
  }

  sendData(data: Uint8ArrayList): SendResult {
    let canSendMore = true;
    for (const buf of data) canSendMore = this.inner.send(this.out.update(buf));
    return { sentBytes: data.byteLength, canSendMore };
  }

  sendReset(err: Error): void {
    this.inner.abort(err);
  }

  sendPause(): void {
    this.inner.pause();
  }

  sendResume(): void {
    this.inner.resume();
  }
}

/**
 * A pre-shared-key connection protector on node:crypto's ChaCha20 (~3 GB/s here): each side
 * sends a random 24-byte nonce, then everything is encrypted with a per-direction key derived
 * from the cluster key (docs/format.md §15). A peer without the key produces noise that the
 * Noise handshake after it rejects, so it learns nothing, not even a peer id.
 */
export class ClusterProtector implements ConnectionProtector {
  private readonly psk: Uint8Array;

  constructor(psk: Uint8Array) {
    this.psk = psk;
  }

  readonly [Symbol.toStringTag] = 'crisscross/protector';

  async protect(connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    const local = randomBytes(NONCE_BYTES);
    const signal = options?.signal ?? AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS);
    const bytes = byteStream(connection);
    const [remote] = await Promise.all([bytes.read({ bytes: NONCE_BYTES, signal }), bytes.write(local, { signal })]);
    const remoteNonce = remote.subarray();
    if (Buffer.from(remoteNonce).equals(local)) throw new Error('the peer reflected our nonce');
    const inner = bytes.unwrap() as MultiaddrConnection;
    const mine = inner.direction === 'outbound' ? 'dialer' : 'listener';
    const theirs = mine === 'dialer' ? 'listener' : 'dialer';
    return new ChachaConnection(inner, linkKey(this.psk, local, mine), linkKey(this.psk, remoteNonce, theirs));
  }
}

/** As libp2p's `connectionProtector` option: a factory of components. */
export function clusterProtector(psk: Uint8Array): () => ConnectionProtector {
  return () => new ClusterProtector(psk);
}
