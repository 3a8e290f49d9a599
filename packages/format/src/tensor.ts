import { ModelFormatError } from './errors.js';

/**
 * Weight storage types bitexit loads. Shapes are row-major, outermost first,
 * as PyTorch writes them: a linear layer's weight is [outFeatures, inFeatures].
 * (GGUF lists dimensions innermost first; readers reverse them.)
 */
export type WeightDType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'bx';

/**
 * The dense storage types (size a function of the shape). 'bx', the bitexit
 * mixed-precision matrix format (SPEC.md), is not listed: its data is a
 * self-describing blob whose size depends on its contents.
 */
export const WEIGHT_DTYPES: readonly WeightDType[] = ['f32', 'f16', 'bf16', 'q8_0'];

/** Q8_0 as in ggml: blocks of 32 weights along a row, each an f16 scale then 32 int8. */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

/**
 * Bytes needed to store `shape` in `dtype` (Q8_0 rows must be multiples of 32).
 * Throws for 'bx', whose size depends on its width map and outliers (use
 * `bxByteLength` or the blob's own header, checked by `parseBx`).
 */
export function weightByteLength(dtype: WeightDType, shape: readonly number[]): number {
  const n = shape.reduce((a, b) => a * b, 1);
  switch (dtype) {
    case 'f32':
      return n * 4;
    case 'f16':
    case 'bf16':
      return n * 2;
    case 'q8_0':
      return (n / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
    case 'bx':
      throw new ModelFormatError('weightByteLength', "the size of a 'bx' tensor depends on its contents; parse its blob with parseBx");
  }
}

/** A tensor's bytes on the host, ready to upload to a backend. */
export interface HostTensor {
  readonly name: string;
  readonly dtype: WeightDType;
  readonly shape: readonly number[];
  /**
   * Little-endian bytes, exactly weightByteLength(dtype, shape) long; for
   * 'bx' the whole blob (SPEC.md), with shape = [rows, cols] from its header.
   */
  readonly data: Uint8Array;
}
