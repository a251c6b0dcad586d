/**
 * The msgpack bytes our canonical form uses (docs/format.md §2). Kept in one place so the
 * encoder, the strict decoder and the comparator cannot drift apart.
 */
export const NIL = 0xc0;
export const FALSE = 0xc2;
export const TRUE = 0xc3;
export const BIN8 = 0xc4;
export const BIN16 = 0xc5;
export const BIN32 = 0xc6;
export const EXT8 = 0xc7;
export const EXT16 = 0xc8;
export const EXT32 = 0xc9;
export const FLOAT32 = 0xca;
export const FLOAT64 = 0xcb;
export const UINT8 = 0xcc;
export const UINT16 = 0xcd;
export const UINT32 = 0xce;
export const UINT64 = 0xcf;
export const INT8 = 0xd0;
export const INT16 = 0xd1;
export const INT32 = 0xd2;
export const INT64 = 0xd3;
export const FIXEXT1 = 0xd4;
export const FIXEXT16 = 0xd8;
export const STR8 = 0xd9;
export const STR16 = 0xda;
export const STR32 = 0xdb;
export const ARRAY16 = 0xdc;
export const ARRAY32 = 0xdd;
export const MAP16 = 0xde;
export const MAP32 = 0xdf;

/** Extension type numbers of the types msgpack lacks. */
export const EXT_BIGINT = 1;
export const EXT_TUPLE = 2;
export const EXT_LINK = 3;

/** Ranks of the total order across types (docs/format.md §3). */
export const RANK_NIL = 0;
export const RANK_BOOL = 1;
export const RANK_NUMBER = 2;
export const RANK_BYTES = 3;
export const RANK_STRING = 4;
export const RANK_LIST = 5;
export const RANK_TUPLE = 6;
export const RANK_MAP = 7;
export const RANK_LINK = 8;

/** The single NaN bit pattern the canonical form allows. */
export const CANONICAL_NAN_HI = 0x7ff80000;

/** No single encoded value may exceed this (docs/format.md §7). */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
/** Nesting depth limit: bounds recursion on hostile input. */
export const MAX_DEPTH = 64;

/**
 * Ext type of a blob reference: not a value, only the form a large leaf value takes inside a
 * node (docs/format.md §4). Clients can never send one; the codec rejects it as a value.
 */
export const EXT_BLOB = 4;
