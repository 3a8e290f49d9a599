import type { WeightDType } from '../tensor.js';
import * as q from './quants.js';
import type { BlockDecoder } from './quants.js';

/** 'GGUF' read as a little-endian uint32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;

/** GGUF metadata value types (gguf_type in gguf.h), by name. */
export type GgufValueType =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'float32'
  | 'bool'
  | 'string'
  | 'array'
  | 'uint64'
  | 'int64'
  | 'float64';

/** Value type names in id order: GGUF_VALUE_TYPES[id]. */
export const GGUF_VALUE_TYPES: readonly GgufValueType[] = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
];

export const GGUF_VALUE_TYPE_IDS: Readonly<Record<GgufValueType, number>> = Object.fromEntries(
  GGUF_VALUE_TYPES.map((t, i) => [t, i]),
) as Record<GgufValueType, number>;

/** Number types whose values are always JS numbers. */
export type GgufNumberType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
/** 64-bit integer types: a number when it is a safe integer, a bigint otherwise. */
export type GgufBigIntType = 'uint64' | 'int64';

/** Byte size of fixed-size value types (strings and arrays are variable). */
export const GGUF_VALUE_SIZES: Readonly<Partial<Record<GgufValueType, number>>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};

/**
 * A typed GGUF array. Nested arrays (itemType 'array') hold arrays that may
 * each have their own item type, as the format allows.
 */
export type GgufArrayValue =
  | { type: 'array'; itemType: GgufNumberType; value: number[] }
  | { type: 'array'; itemType: GgufBigIntType; value: Array<number | bigint> }
  | { type: 'array'; itemType: 'bool'; value: boolean[] }
  | { type: 'array'; itemType: 'string'; value: string[] }
  | { type: 'array'; itemType: 'array'; value: GgufArrayValue[] };

/**
 * A typed GGUF metadata value. Keeping the wire type makes read -> write
 * round trips byte-identical (a uint32 stays a uint32, a float32 a float32).
 */
export type GgufMetadataValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufArrayValue;

/** Plain JS form of a metadata value (what the GgufFile getters return). */
export type GgufPlainValue = number | bigint | boolean | string | GgufPlainValue[];

/** Small constructors for typed metadata values. */
export const ggufValue = {
  uint8: (value: number): GgufMetadataValue => ({ type: 'uint8', value }),
  int8: (value: number): GgufMetadataValue => ({ type: 'int8', value }),
  uint16: (value: number): GgufMetadataValue => ({ type: 'uint16', value }),
  int16: (value: number): GgufMetadataValue => ({ type: 'int16', value }),
  uint32: (value: number): GgufMetadataValue => ({ type: 'uint32', value }),
  int32: (value: number): GgufMetadataValue => ({ type: 'int32', value }),
  float32: (value: number): GgufMetadataValue => ({ type: 'float32', value }),
  float64: (value: number): GgufMetadataValue => ({ type: 'float64', value }),
  uint64: (value: number | bigint): GgufMetadataValue => ({ type: 'uint64', value }),
  int64: (value: number | bigint): GgufMetadataValue => ({ type: 'int64', value }),
  bool: (value: boolean): GgufMetadataValue => ({ type: 'bool', value }),
  string: (value: string): GgufMetadataValue => ({ type: 'string', value }),
  strings: (value: string[]): GgufArrayValue => ({ type: 'array', itemType: 'string', value }),
  numbers: (itemType: GgufNumberType, value: number[]): GgufArrayValue => ({ type: 'array', itemType, value }),
  bools: (value: boolean[]): GgufArrayValue => ({ type: 'array', itemType: 'bool', value }),
  arrays: (value: GgufArrayValue[]): GgufArrayValue => ({ type: 'array', itemType: 'array', value }),
};

/** Converts a typed metadata value to its plain JS form. */
export function ggufPlainValue(v: GgufMetadataValue): GgufPlainValue {
  if (v.type !== 'array') return v.value;
  if (v.itemType === 'array') return v.value.map((x) => ggufPlainValue(x));
  return v.value.slice();
}

/** One ggml tensor type: elements per block and bytes per block. */
export interface GgmlTypeInfo {
  readonly id: number;
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
  /** The bitexit storage type when this build loads it, else null. */
  readonly dtype: WeightDType | null;
  /** Type ids removed from ggml (files with them no longer load in llama.cpp). */
  readonly removed?: boolean;
  /**
   * Dequantizes whole blocks to f32 bit for bit as ggml's `dequantize_row_*`,
   * for the block types bitexit decodes but backends do not run (Q4_0, Q4_K, ...).
   */
  readonly decode?: BlockDecoder;
  /**
   * Byte offset of the block's only scale (f16) when every value is that scale
   * times an integer of magnitude at most 127: such blocks re-encode to Q8_0
   * exactly (`ggmlToQ8_0`).
   */
  readonly singleScaleAt?: number;
}

const QK_K = 256;

function t(
  id: number,
  name: string,
  blockSize: number,
  typeSize: number,
  dtype: WeightDType | null = null,
  extra: { removed?: true; decode?: BlockDecoder; singleScaleAt?: number } = {},
): GgmlTypeInfo {
  return { id, name, blockSize, typeSize, dtype, ...extra };
}
const removed = { removed: true } as const;

/**
 * ggml_type ids (ggml.h) with block sizes (ggml-common.h / gguf-py constants).
 * 4 and 5 (Q4_2, Q4_3) were removed long ago and their layout is unknown here.
 */
export const GGML_TYPES: readonly GgmlTypeInfo[] = [
  t(0, 'F32', 1, 4, 'f32'),
  t(1, 'F16', 1, 2, 'f16'),
  t(2, 'Q4_0', 32, 2 + 16, null, { decode: q.dequantizeQ4_0, singleScaleAt: 0 }),
  t(3, 'Q4_1', 32, 2 + 2 + 16, null, { decode: q.dequantizeQ4_1 }),
  t(6, 'Q5_0', 32, 2 + 4 + 16, null, { decode: q.dequantizeQ5_0, singleScaleAt: 0 }),
  t(7, 'Q5_1', 32, 2 + 2 + 4 + 16, null, { decode: q.dequantizeQ5_1 }),
  t(8, 'Q8_0', 32, 2 + 32, 'q8_0', { decode: q.dequantizeQ8_0, singleScaleAt: 0 }),
  t(9, 'Q8_1', 32, 4 + 32),
  t(10, 'Q2_K', QK_K, 2 * 2 + QK_K / 16 + QK_K / 4, null, { decode: q.dequantizeQ2_K }),
  t(11, 'Q3_K', QK_K, 2 + QK_K / 4 + QK_K / 8 + 12, null, { decode: q.dequantizeQ3_K }),
  t(12, 'Q4_K', QK_K, 2 * 2 + 12 + QK_K / 2, null, { decode: q.dequantizeQ4_K }),
  t(13, 'Q5_K', QK_K, 2 * 2 + 12 + QK_K / 8 + QK_K / 2, null, { decode: q.dequantizeQ5_K }),
  t(14, 'Q6_K', QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16, null, { decode: q.dequantizeQ6_K }),
  t(15, 'Q8_K', QK_K, 4 + QK_K + QK_K / 8, null, { decode: q.dequantizeQ8_K }),
  t(16, 'IQ2_XXS', QK_K, 2 + QK_K / 4),
  t(17, 'IQ2_XS', QK_K, 2 + QK_K / 4 + QK_K / 32),
  t(18, 'IQ3_XXS', QK_K, 2 + QK_K / 4 + QK_K / 8),
  t(19, 'IQ1_S', QK_K, 2 + QK_K / 8 + QK_K / 16),
  t(20, 'IQ4_NL', 32, 2 + 16, null, { decode: q.dequantizeIQ4_NL, singleScaleAt: 0 }),
  t(21, 'IQ3_S', QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4),
  t(22, 'IQ2_S', QK_K, 2 + QK_K / 4 + QK_K / 16),
  t(23, 'IQ4_XS', QK_K, 2 + 2 + QK_K / 2 + QK_K / 64, null, { decode: q.dequantizeIQ4_XS }),
  t(24, 'I8', 1, 1),
  t(25, 'I16', 1, 2),
  t(26, 'I32', 1, 4),
  t(27, 'I64', 1, 8),
  t(28, 'F64', 1, 8),
  t(29, 'IQ1_M', QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
  t(30, 'BF16', 1, 2, 'bf16'),
  t(31, 'Q4_0_4_4', 32, 18, null, removed),
  t(32, 'Q4_0_4_8', 32, 18, null, removed),
  t(33, 'Q4_0_8_8', 32, 18, null, removed),
  t(34, 'TQ1_0', QK_K, 2 + 4 * 13, null, { decode: q.dequantizeTQ1_0, singleScaleAt: 52 }),
  t(35, 'TQ2_0', QK_K, 2 + 64, null, { decode: q.dequantizeTQ2_0, singleScaleAt: 64 }),
  t(36, 'IQ4_NL_4_4', 32, 18, null, removed),
  t(37, 'IQ4_NL_4_8', 32, 18, null, removed),
  t(38, 'IQ4_NL_8_8', 32, 18, null, removed),
  t(39, 'MXFP4', 32, 1 + 16),
  t(40, 'NVFP4', 64, 4 + 32),
  t(41, 'Q1_0', 128, 2 + 16),
  t(42, 'Q2_0', 64, 2 + 16),
];

const BY_ID = new Map(GGML_TYPES.map((x) => [x.id, x]));
const BY_NAME = new Map(GGML_TYPES.map((x) => [x.name, x]));

/** Type info by ggml type id, or undefined for unknown ids. */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/** Type info by name ('Q8_0', 'F16', ...), or undefined. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Name of a ggml type id ('Q4_K'), or `TYPE_<id>` when unknown. */
export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? `TYPE_${id}`;
}

/** ggml type id that stores a bitexit WeightDType. */
export function ggmlTypeForDType(dtype: WeightDType): number {
  switch (dtype) {
    case 'f32':
      return 0;
    case 'f16':
      return 1;
    case 'q8_0':
      return 8;
    case 'bf16':
      return 30;
    case 'bx':
      return GGML_TYPE_I8; // a byte tensor holding the blob (SPEC.md §7)
  }
}

/** ggml type I8: bx blobs are stored as 1-D I8 tensors of their byte length. */
export const GGML_TYPE_I8 = 24;
/** GGUF key listing the tensors stored as bx blobs (array of string). */
export const BX_TENSORS_KEY = 'bitexit.bx.tensors';
/** GGUF key with the bx format version of the file's bx tensors (u32, 1). */
export const BX_FORMAT_VERSION_KEY = 'bitexit.format.version';

/**
 * Bytes of a tensor with ggml dims `ne` (innermost first) of the given type,
 * as ggml_nbytes for a contiguous tensor. Returns null when the innermost
 * dimension is not a multiple of the block size or the size is not a safe integer.
 */
export function ggmlByteLength(info: GgmlTypeInfo, ne: readonly number[]): number | null {
  const ne0 = ne.length ? ne[0] : 1;
  if (ne0 % info.blockSize !== 0) return null;
  let bytes = (ne0 / info.blockSize) * info.typeSize;
  for (let i = 1; i < ne.length; i++) bytes *= ne[i];
  return Number.isSafeInteger(bytes) ? bytes : null;
}
