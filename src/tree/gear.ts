/**
 * The gear-hash scan of content-defined chunking (cdc.ts) as a small WebAssembly function: the
 * loop is an upload's largest per-byte cost, and V8 runs it about twice as fast from linear
 * memory (no bounds check per load) as from a typed array. The module is assembled here, a few
 * dozen bytes, so there is no build step and no binary in the repository.
 *
 * Its memory is imported and shared (upload-ring.ts): the main thread writes an upload's bytes
 * where the chunker thread scans, hashes and cuts them, and the segment writes read them there.
 * Memory layout: the gear table at 0 (256 little-endian i32), the table shifted left by one at
 * 1024, the bytes to scan from DATA on.
 *
 *     cut(i, mid, stop) → the end of the chunk, or -1 when the scan reaches `stop`
 *
 * rolls h = (h << 2) + gear2[b[i]] + gear[b[i + 1]] two bytes per step from h = 0, tests
 * h & MASK_S while i + 1 < mid and h & MASK_L after that, and returns i + 2 at the first zero.
 */
const DATA = 2048;
const GEAR2_AT = 1024;
const PAGE = 65536;
/** The most pages a scanner's memory may have: the import's declared maximum. */
const MAX_PAGES = 16384;

const I32 = 0x7f;
const op = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d, return: 0x0f,
  localGet: 0x20, localSet: 0x21, i32Load: 0x28, i32Load8u: 0x2d, i32Const: 0x41,
  i32Eqz: 0x45, i32GeU: 0x4f, i32Add: 0x6a, i32And: 0x71, i32Shl: 0x74, void: 0x40,
};

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [s.length, ...Buffer.from(s, 'latin1')];
}

/** One scan loop: locals 0 = i, `limit` = mid or stop, 3 = h. */
function scan(limit: number, mask: number): number[] {
  const { localGet: get, localSet: set, i32Const: k } = op;
  return [
    op.block, op.void, op.loop, op.void,
    get, 0, k, 1, op.i32Add, get, limit, op.i32GeU, op.brIf, 1,
    get, 3, k, 2, op.i32Shl,
    get, 0, op.i32Load8u, 0, ...uleb(DATA), k, 2, op.i32Shl, op.i32Load, 2, ...uleb(GEAR2_AT), op.i32Add,
    get, 0, op.i32Load8u, 0, ...uleb(DATA + 1), k, 2, op.i32Shl, op.i32Load, 2, 0, op.i32Add,
    set, 3,
    get, 0, k, 2, op.i32Add, set, 0,
    get, 3, k, ...sleb(mask), op.i32And, op.i32Eqz,
    op.if, op.void, get, 0, op.return, op.end,
    op.br, 0,
    op.end, op.end,
  ];
}

/** Limits flag of a shared memory with a maximum (the threads proposal, in V8 since 7.4). */
const SHARED_WITH_MAX = 0x03;

function assemble(maskS: number, maskL: number): Uint8Array {
  const code = [1, 1, I32, ...scan(1, maskS), ...scan(2, maskL), op.i32Const, ...sleb(-1), op.end];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, I32, I32, I32, 1, I32]),
    ...section(2, [1, ...name('m'), ...name('mem'), 2, SHARED_WITH_MAX, 1, ...uleb(MAX_PAGES)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('cut'), 0, 0]),
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}

/** The little of WebAssembly's API used here (the lib settings do not declare its types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: { m: { mem: WasmMemory } }) => { exports: Record<string, unknown> };
  Memory: new (limits: { initial: number; maximum: number; shared: true }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: { module: object; masks: [number, number] } | undefined;

/**
 * A memory for scanners to share, with a data area of at least `capacity` bytes. A
 * WebAssembly memory posted to a worker is the same memory there, never a copy.
 */
export function scannerMemory(capacity: number): WasmMemory {
  const pages = Math.ceil((DATA + capacity) / PAGE);
  if (pages > MAX_PAGES) throw new RangeError(`a scanner's memory holds at most ${MAX_PAGES * PAGE - DATA} bytes`);
  return new wasm.Memory({ initial: pages, maximum: pages, shared: true });
}

/** The data area of `memory`: offset 0 here is DATA in linear memory. */
export function dataArea(memory: WasmMemory): Buffer {
  return Buffer.from(memory.buffer, DATA, memory.buffer.byteLength - DATA);
}

/** The gear scan over the data area of `memory` (scannerMemory), which may be shared with other threads. */
export class GearScanner {
  private readonly scanFn: (i: number, mid: number, stop: number) => number;

  constructor(memory: WasmMemory, gear: Int32Array, maskS: number, maskL: number) {
    if (compiled === undefined || compiled.masks[0] !== maskS || compiled.masks[1] !== maskL) {
      compiled = { module: new wasm.Module(assemble(maskS, maskL)), masks: [maskS, maskL] };
    }
    const instance = new wasm.Instance(compiled.module, { m: { mem: memory } });
    this.scanFn = instance.exports.cut as (i: number, mid: number, stop: number) => number;
    // The same tables whoever writes them, so scanners sharing a memory may each write them.
    const tables = new DataView(memory.buffer);
    for (let i = 0; i < 256; i++) {
      tables.setInt32(4 * i, gear[i], true);
      tables.setInt32(GEAR2_AT + 4 * i, gear[i] << 1, true);
    }
  }

  /** Where the hash first hits zero in [i, stop) of the data area (harder mask before `mid`), or -1. */
  scan(i: number, mid: number, stop: number): number {
    return this.scanFn(i, mid, stop);
  }
}
