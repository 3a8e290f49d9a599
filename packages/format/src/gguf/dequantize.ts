import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { decodeToF32 } from '../numeric.js';
import { GGML_TYPES, ggmlTypeInfo, ggmlTypeName, type GgmlTypeInfo } from './types.js';

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
