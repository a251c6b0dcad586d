import type { Cut } from './chunk-stream.ts';
import type { WasmMemory } from './gear.ts';

/**
 * What the main thread and the chunker thread (chunk-worker.ts) say to each other. Bytes never
 * cross in messages: each upload has a ring (upload-ring.ts) in memory both threads share,
 * posted once when the upload opens, and messages only say how far it is filled or cut. A
 * transferred or newly allocated ArrayBuffer per piece and per chunk counted as fresh external
 * memory each time, and the main thread ran a full garbage collection every ~11 MiB of upload.
 */
export type ToWorker =
  | { type: 'open'; upload: number; memory: WasmMemory }
  /** The file's bytes up to `end` are in the ring. */
  | { type: 'push'; upload: number; end: number }
  | { type: 'finish'; upload: number; end: number }
  | { type: 'drop'; upload: number };

/** After `final` or `failed`, the thread no longer touches the upload's ring. */
export type FromWorker =
  | { type: 'chunks'; upload: number; chunks: Cut[]; final: boolean }
  | { type: 'failed'; upload: number; message: string };
