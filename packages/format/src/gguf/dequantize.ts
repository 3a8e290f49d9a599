import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { decodeToF32, encodeQ8_0 } from '../numeric.js';
import { GGML_TYPES, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName, type GgmlTypeInfo } from './types.js';

/** ggml type names whose tensors bitexit's backends run as stored (F32, F16, BF16, Q8_0). */
export const GGML_RUNNABLE_TYPE_NAMES: readonly string[] = GGML_TYPES.filter((t) => t.dtype !== null).map((t) => t.name);

/** ggml type names bitexit decodes to f32 (the runnable ones and every block type with a decoder). */
export const GGML_DECODABLE_TYPE_NAMES: readonly string[] = GGML_TYPES.filter((t) => ggmlDecodable(t)).map((t) => t.name);

/** The block types bitexit decodes but does not run as stored (Q4_0 ... Q6_K, ...). */
const DECODED_ONLY = (): string[] => GGML_DECODABLE_TYPE_NAMES.filter((n) => !GGML_RUNNABLE_TYPE_NAMES.includes(n));

/**
 * One sentence for users about a ggml type bitexit cannot use directly: what
 * runs, what is decoded, and what to do about this one.
 */
export function ggmlTypeAdvice(typeName: string): string {
  const runs = `bitexit runs ${GGML_RUNNABLE_TYPE_NAMES.join(', ')} and bx weights as stored`;
  if (GGML_DECODABLE_TYPE_NAMES.includes(typeName)) {
    return `${runs} and decodes ${typeName} to f32 (readTensorF32); the engine converts such tensors at load, and \`bitexit quantize in.gguf -o out.gguf\` makes a file that loads without conversion`;
  }
  return `${runs} and decodes ${DECODED_ONLY().join(', ')}; ${typeName} is none of these: re-quantize the original model to one of them (e.g. llama.cpp: llama-quantize --allow-requantize in.gguf out.gguf Q8_0)`;
}

/** Whether `dequantizeGgml` decodes this ggml type. */
export function ggmlDecodable(info: GgmlTypeInfo | number): boolean {
  const t = typeof info === 'number' ? ggmlTypeInfo(info) : info;
  return t !== undefined && (t.dtype !== null || t.decode !== undefined);
}

/**
 * Decodes the stored bytes of a ggml tensor of `nElements` values to f32,
 * bit for bit as ggml's `dequantize_row_*` (F32, F16, BF16 and Q8_0 through
 * decodeToF32, block types through their GGML_TYPES decoder). Throws
 * UnsupportedTensorTypeError for types without a decoder (IQ2_XXS, I32, ...)
 * and ModelFormatError when the byte count does not match.
 */
export function dequantizeGgml(typeId: number, bytes: Uint8Array, nElements: number, file: string, tensor: string): Float32Array {
  const info = ggmlTypeInfo(typeId);
  if (!info || !ggmlDecodable(info)) throw new UnsupportedTensorTypeError(file, tensor, ggmlTypeName(typeId), ggmlTypeAdvice(ggmlTypeName(typeId)));
  if (!Number.isSafeInteger(nElements) || nElements < 0 || nElements % info.blockSize !== 0) {
    throw new ModelFormatError(file, `tensor '${tensor}': ${nElements} values are not whole ${info.name} blocks of ${info.blockSize}`);
  }
  const blocks = nElements / info.blockSize;
  if (bytes.byteLength !== blocks * info.typeSize) {
    throw new ModelFormatError(file, `tensor '${tensor}': ${nElements} ${info.name} values need ${blocks * info.typeSize} bytes, got ${bytes.byteLength}`);
  }
  if (info.dtype !== null) return decodeToF32({ name: tensor, dtype: info.dtype, shape: [nElements], data: bytes });
  const out = new Float32Array(nElements);
  info.decode!(bytes, out, blocks);
  return out;
}

/** Whether `ggmlToQ8_0` keeps this type's values exactly (its blocks are one f16 scale times small integers). */
export function ggmlToQ8_0IsExact(typeName: string): boolean {
  return ggmlTypeByName(typeName)?.singleScaleAt !== undefined;
}

/**
 * Re-encodes the stored bytes of a ggml tensor (rows of `rowLength` values) as
 * Q8_0. Block types whose values are one f16 scale times small integers
 * (Q4_0, Q5_0, IQ4_NL, TQ1_0, TQ2_0: `singleScaleAt`) keep that scale and
 * their integers, so the result decodes to exactly the same values
 * (`exact: true`); every other type is decoded exactly and rounded to Q8_0's
 * grid as ggml's quantize_row_q8_0_ref would (at most half a Q8_0 step, amax/254
 * per 32 values, from the decoded value).
 */
export function ggmlToQ8_0(typeId: number, bytes: Uint8Array, shape: readonly number[], file: string, tensor: string): { data: Uint8Array; exact: boolean } {
  const nElements = shape.reduce((a, b) => a * b, 1);
  const info = ggmlTypeInfo(typeId);
  if (!info || info.singleScaleAt === undefined || !info.decode) {
    return { data: encodeQ8_0(dequantizeGgml(typeId, bytes, nElements, file, tensor), shape), exact: typeId === 8 };
  }
  // Decoding each block with its scale replaced by 1.0 (f16 0x3c00) yields its integers exactly.
  const unit = Uint8Array.from(bytes);
  const blocks = nElements / info.blockSize;
  for (let b = 0; b < blocks; b++) {
    unit[b * info.typeSize + info.singleScaleAt] = 0x00;
    unit[b * info.typeSize + info.singleScaleAt + 1] = 0x3c;
  }
  const ints = dequantizeGgml(typeId, unit, nElements, file, tensor);
  const out = new Uint8Array((nElements / 32) * 34);
  for (let k = 0; k < nElements / 32; k++) {
    const src = Math.floor((k * 32) / info.blockSize) * info.typeSize + info.singleScaleAt;
    out[k * 34] = bytes[src]!;
    out[k * 34 + 1] = bytes[src + 1]!;
    for (let j = 0; j < 32; j++) out[k * 34 + 2 + j] = ints[k * 32 + j]! & 0xff;
  }
  return { data: out, exact: true };
}
