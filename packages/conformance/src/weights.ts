/**
 * Test weights: random values encoded into a weight storage type with
 * @bitexit/format's encoders, and the dequantisation the oracle uses
 * (@bitexit/format's decodeToF32). The oracle always computes from the
 * decoded stored values, so storage rounding is never mistaken for a kernel
 * error: only the arithmetic is compared.
 */
import { decodeToF32, encodeBf16, encodeF16, encodeF32, encodeQ8_0, type HostTensor, type WeightDType } from '@bitexit/format';

/** Encodes row-major values into `dtype` storage (Q8_0 as ggml's reference quantiser). */
export function encodeWeight(name: string, dtype: WeightDType, shape: readonly number[], values: ArrayLike<number>): HostTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new Error(`encodeWeight ${name}: ${values.length} values for shape [${shape}]`);
  const f32 = Float32Array.from(values);
  const data =
    dtype === 'f32' ? encodeF32(f32) : dtype === 'f16' ? encodeF16(f32) : dtype === 'bf16' ? encodeBf16(f32) : encodeQ8_0(f32, shape);
  return { name, dtype, shape: [...shape], data };
}

/** The stored values of a weight, widened to float64. */
export function decodeWeight(t: HostTensor): Float64Array {
  return Float64Array.from(decodeToF32(t));
}
