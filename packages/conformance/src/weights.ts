/**
 * Test weights: random values encoded into a weight storage type with
 * @bitexit/format's encoders, and the dequantisation the oracle uses
 * (@bitexit/format's decodeToF32). The oracle always computes from the
 * decoded stored values, so storage rounding is never mistaken for a kernel
 * error: only the arithmetic is compared.
 */
import { decodeToF32, encodeBf16, encodeBx, encodeF16, encodeF32, encodeQ8_0, quantizeBxRtn, roundF16, type HostTensor, type WeightDType } from '@bitexit/format';

/**
 * bx test weights: round-to-nearest with 2-, 3- and 4-bit column groups in
 * turn (G = 32, so small matrices mix widths and most have a partial last
 * group), second-order scales (6-bit codes, 4×2 tiles) and an f16 outlier at
 * every 41st weight, so one weight exercises every part of the format.
 */
function encodeBxWeight(name: string, shape: readonly number[], f32: Float32Array): Uint8Array {
  if (shape.length !== 2) throw new Error(`encodeWeight ${name}: bx weights are matrices, got shape [${shape}]`);
  const [rows, cols] = shape;
  const m = quantizeBxRtn(f32, rows, cols, { groupSize: 32, widths: [2, 3, 4], secondOrder: true, scaleBits: 6, superGroup: { rows: 4, groups: 2 } });
  const at: number[] = [];
  // Zero-valued outliers are not allowed (a zero weight needs none), so skip weights that round to 0 in f16.
  for (let i = 7; i < f32.length; i += 41) if (roundF16(f32[i]) !== 0) at.push(i);
  m.outliers = {
    rows: Uint32Array.from(at, (i) => Math.floor(i / cols)),
    cols: Uint32Array.from(at, (i) => i % cols),
    values: Float32Array.from(at, (i) => roundF16(f32[i])),
  };
  return encodeBx(m, name);
}

/** Encodes row-major values into `dtype` storage (Q8_0 as ggml's reference quantiser). */
export function encodeWeight(name: string, dtype: WeightDType, shape: readonly number[], values: ArrayLike<number>): HostTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new Error(`encodeWeight ${name}: ${values.length} values for shape [${shape}]`);
  const f32 = Float32Array.from(values);
  const data =
    dtype === 'f32'
      ? encodeF32(f32)
      : dtype === 'f16'
        ? encodeF16(f32)
        : dtype === 'bf16'
          ? encodeBf16(f32)
          : dtype === 'bx'
            ? encodeBxWeight(name, shape, f32)
            : encodeQ8_0(f32, shape);
  return { name, dtype, shape: [...shape], data };
}

/** The stored values of a weight, widened to float64. */
export function decodeWeight(t: HostTensor): Float64Array {
  return Float64Array.from(decodeToF32(t));
}
