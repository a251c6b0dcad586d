import { MAX_CHUNK } from './cdc.ts';

/**
 * What the main thread and the chunker thread (chunk-worker.ts) exchange. Bytes cross through
 * two shared buffers made once per thread, as slots named by number: pieces going in, chunk
 * values coming out. A transferred or newly allocated ArrayBuffer per piece and per chunk
 * counted as fresh external memory each time, and the main thread ran a full garbage
 * collection every ~11 MiB of upload.
 */
export const PIECE_SLOT = 1024 * 1024;
export const PIECE_SLOTS = 4;
export const CHUNK_SLOT = MAX_CHUNK + 5;
export const CHUNK_SLOTS = 8;

export interface SharedSlots {
  pieces: SharedArrayBuffer;
  chunks: SharedArrayBuffer;
}

/**
 * A chunk as it crosses: its value is chunk slot `slot` (its first `length` bytes), or when
 * `slot` is -1, `value` itself (an inline chunk, or a blob cut while every slot was taken).
 */
export interface WireChunk {
  offset: number;
  id: Uint8Array | null;
  slot: number;
  length: number;
  value: Uint8Array | null;
}

export type ToWorker =
  | { type: 'push'; upload: number; slot: number; length: number }
  | { type: 'recycle'; slots: number[] }
  | { type: 'finish'; upload: number }
  | { type: 'drop'; upload: number };

/** `freed`: the piece slot the thread is done with, or -1. */
export type FromWorker =
  | { type: 'chunks'; upload: number; chunks: WireChunk[]; consumed: number; final: boolean; freed: number }
  | { type: 'failed'; upload: number; message: string; freed: number };

