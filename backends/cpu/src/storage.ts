/**
 * Host-side storage of weights in their file format, and the small decoding
 * tables the kernels share. Weights are never widened to f32 as a whole:
 * kernels decode on the fly (f16 through a 65536-entry table, bf16 by a
 * 16-bit shift, q8_0 block by block).
 */

import { dequantizeBxRows, f16Lut, type BxView } from '@bitexit/format';

/** A weight as the CPU kernels see it: the raw storage plus its matrix view. */
export type CpuWeightData =
  | { readonly dtype: 'f32'; readonly rows: number; readonly cols: number; readonly f32: Float32Array }
  | { readonly dtype: 'f16'; readonly rows: number; readonly cols: number; readonly u16: Uint16Array }
  | { readonly dtype: 'bf16'; readonly rows: number; readonly cols: number; readonly u16: Uint16Array }
  | {
      readonly dtype: 'q8_0';
      readonly rows: number;
      readonly cols: number;
      /** Raw blocks: per 32 weights, a little-endian f16 scale then 32 int8. */
      readonly bytes: Uint8Array;
      /** The same bytes seen as int8. */
      readonly i8: Int8Array;
    }
  | {
      /** bitexit mixed-precision matrix (packages/format/SPEC.md): the validated blob. */
      readonly dtype: 'bx';
      readonly rows: number;
      readonly cols: number;
      readonly view: BxView;
    };

const cvtF32 = new Float32Array(1);
const cvtU32 = new Uint32Array(cvtF32.buffer);

/** bf16 → f32 by shifting the 16 bits into the high half: `bits` is a Uint32Array view of the output. */
export function decodeBF16Into(src: Uint16Array, start: number, count: number, bits: Uint32Array, outOffset: number): void {
  for (let j = 0; j < count; j++) bits[outOffset + j] = src[start + j] << 16;
}

/**
 * Decodes `count` consecutive elements of a weight starting at flat element
 * `start` into `out[outOffset..]` as f32. Used by embed, rmsnorm, bias and
 * the row-at-a-time matmul paths. q8_0 ranges must start on a block boundary
 * (always true for whole rows, since q8_0 rows are multiples of 32).
 */
export function decodeRange(w: CpuWeightData, start: number, count: number, out: Float32Array, outOffset: number): void {
  switch (w.dtype) {
    case 'f32': {
      const src = w.f32;
      for (let j = 0; j < count; j++) out[outOffset + j] = src[start + j];
      return;
    }
    case 'f16': {
      const lut = f16Lut();
      const src = w.u16;
      for (let j = 0; j < count; j++) out[outOffset + j] = lut[src[start + j]];
      return;
    }
    case 'bf16': {
      const src = w.u16;
      for (let j = 0; j < count; j++) {
        cvtU32[0] = src[start + j] << 16;
        out[outOffset + j] = cvtF32[0];
      }
      return;
    }
    case 'q8_0': {
      const lut = f16Lut();
      const bytes = w.bytes;
      const q = w.i8;
      let o = (start >> 5) * 34;
      for (let j = 0; j < count; j += 32, o += 34) {
        const d = lut[bytes[o] | (bytes[o + 1] << 8)];
        const m = Math.min(32, count - j);
        for (let i = 0; i < m; i++) out[outOffset + j + i] = q[o + 2 + i] * d;
      }
      return;
    }
    case 'bx': {
      // Whole rows are dequantized straight into `out`; a partial range goes through one row of scratch.
      const K = w.cols;
      let c = start;
      let o = outOffset;
      const end = start + count;
      while (c < end) {
        const r = Math.floor(c / K);
        const from = c - r * K;
        const take = Math.min(K - from, end - c);
        if (from === 0 && take === K) {
          dequantizeBxRows(w.view, r, 1, out, o);
        } else {
          const row = new Float32Array(K);
          dequantizeBxRows(w.view, r, 1, row, 0);
          out.set(row.subarray(from, from + take), o);
        }
        c += take;
        o += take;
      }
      return;
    }
  }
}
