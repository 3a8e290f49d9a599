/**
 * matmul: out[t] = W · x[t] (+ bias), W [N, K] in its storage format.
 *
 * Two paths per storage type:
 * - decode (n = 1): one fused pass over W, two rows at a time sharing the
 *   x loads (f16 decoded through the 65536-entry table, q8_0 block by block with the
 *   int8 sum multiplied by the block scale once);
 * - prefill (n > 1): weight rows are taken two at a time, decoded once into
 *   an f32 scratch (f32 rows are read in place) and multiplied with 4 tokens
 *   per pass (8 accumulators), so each weight element is loaded once per 4
 *   tokens and decoded once per run.
 * Accumulation is in JS numbers (float64); results are rounded to f32 when
 * stored, which is at least as precise as f32 accumulation.
 */
import { f16Lut, type WeightDType } from '@bitexit/format';
import { decodeBF16Into, decodeRange, type CpuWeightData } from '../storage.js';
import { decodeBias, dot, rowPairTimesTokens, rowTimesTokens } from './row-products.js';
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

/** Decode path for f32 weights: two rows per pass share the x loads. */
function matvecF32(w: Float32Array, x: Float32Array, out: Float32Array, N: number, K: number, bias: Float32Array | null): void {
  const K4 = K - 3;
  let r = 0;
  for (; r + 1 < N; r += 2) {
    const o = r * K;
    const p = o + K;
    let a0 = 0;
    let a1 = 0;
    let b0 = 0;
    let b1 = 0;
    let j = 0;
    for (; j < K4; j += 4) {
      const x0 = x[j];
      const x1 = x[j + 1];
      const x2 = x[j + 2];
      const x3 = x[j + 3];
      a0 += w[o + j] * x0 + w[o + j + 1] * x1;
      a1 += w[o + j + 2] * x2 + w[o + j + 3] * x3;
      b0 += w[p + j] * x0 + w[p + j + 1] * x1;
      b1 += w[p + j + 2] * x2 + w[p + j + 3] * x3;
    }
    for (; j < K; j++) {
      const xj = x[j];
      a0 += w[o + j] * xj;
      b0 += w[p + j] * xj;
    }
    out[r] = bias === null ? a0 + a1 : a0 + a1 + bias[r];
    out[r + 1] = bias === null ? b0 + b1 : b0 + b1 + bias[r + 1];
  }
  if (r < N) {
    const s = dot(w, r * K, x, 0, K);
    out[r] = bias === null ? s : s + bias[r];
  }
}

/** Decode path for f16 weights: fused table lookup, two rows per pass. */
function matvecF16(w: Uint16Array, x: Float32Array, out: Float32Array, N: number, K: number, bias: Float32Array | null): void {
  const lut = f16Lut();
  const K4 = K - 3;
  let r = 0;
  for (; r + 1 < N; r += 2) {
    const o = r * K;
    const p = o + K;
    let a0 = 0;
    let a1 = 0;
    let b0 = 0;
    let b1 = 0;
    let j = 0;
    for (; j < K4; j += 4) {
      const x0 = x[j];
      const x1 = x[j + 1];
      const x2 = x[j + 2];
      const x3 = x[j + 3];
      a0 += lut[w[o + j]] * x0 + lut[w[o + j + 1]] * x1;
      a1 += lut[w[o + j + 2]] * x2 + lut[w[o + j + 3]] * x3;
      b0 += lut[w[p + j]] * x0 + lut[w[p + j + 1]] * x1;
      b1 += lut[w[p + j + 2]] * x2 + lut[w[p + j + 3]] * x3;
    }
    for (; j < K; j++) {
      const xj = x[j];
      a0 += lut[w[o + j]] * xj;
      b0 += lut[w[p + j]] * xj;
    }
    out[r] = bias === null ? a0 + a1 : a0 + a1 + bias[r];
    out[r + 1] = bias === null ? b0 + b1 : b0 + b1 + bias[r + 1];
  }
  if (r < N) {
    const o = r * K;
    let s = 0;
    for (let j = 0; j < K; j++) s += lut[w[o + j]] * x[j];
    out[r] = bias === null ? s : s + bias[r];
  }
}

/** Decode path for q8_0 weights: per block, the int8·x sum times the block's f16 scale; two rows per pass. */
function matvecQ8(bytes: Uint8Array, q: Int8Array, x: Float32Array, out: Float32Array, N: number, K: number, bias: Float32Array | null): void {
  const lut = f16Lut();
  const rowBytes = (K >> 5) * 34;
  let r = 0;
  for (; r + 1 < N; r += 2) {
    let o = r * rowBytes;
    let p = o + rowBytes;
    let accA = 0;
    let accB = 0;
    for (let xb = 0; xb < K; xb += 32, o += 34, p += 34) {
      const da = lut[bytes[o] | (bytes[o + 1] << 8)];
      const db = lut[bytes[p] | (bytes[p + 1] << 8)];
      const qa = o + 2;
      const qb = p + 2;
      let a0 = 0;
      let a1 = 0;
      let b0 = 0;
      let b1 = 0;
      for (let i = 0; i < 32; i += 4) {
        const x0 = x[xb + i];
        const x1 = x[xb + i + 1];
        const x2 = x[xb + i + 2];
        const x3 = x[xb + i + 3];
        a0 += q[qa + i] * x0 + q[qa + i + 1] * x1;
        a1 += q[qa + i + 2] * x2 + q[qa + i + 3] * x3;
        b0 += q[qb + i] * x0 + q[qb + i + 1] * x1;
        b1 += q[qb + i + 2] * x2 + q[qb + i + 3] * x3;
      }
      accA += (a0 + a1) * da;
      accB += (b0 + b1) * db;
    }
    out[r] = bias === null ? accA : accA + bias[r];
    out[r + 1] = bias === null ? accB : accB + bias[r + 1];
  }
  if (r < N) {
    let o = r * rowBytes;
    let acc = 0;
    for (let xb = 0; xb < K; xb += 32, o += 34) {
      const d = lut[bytes[o] | (bytes[o + 1] << 8)];
      let s = 0;
      for (let i = 0; i < 32; i++) s += q[o + 2 + i] * x[xb + i];
      acc += s * d;
    }
    out[r] = bias === null ? acc : acc + bias[r];
  }
}

function compileMatmul(op: OpOf<'matmul'>, ctx: KernelContext): KernelStep {
  const w: CpuWeightData = ctx.weight(op.weight);
  const x = ctx.f32(op.x);
  const out = ctx.f32(op.out);
  const N = w.rows;
  const K = w.cols;
  const bias = decodeBias(ctx, op.bias);
  const wf32 = w.dtype === 'f32' ? w.f32 : null;
  const bf16 = w.dtype === 'bf16' ? w.u16 : null;
  // Two decoded weight rows (prefill of non-f32 weights, and bf16 decode).
  const rows = wf32 === null ? ctx.scratch(2 * K) : null;
  const rowBits = rows === null ? null : new Uint32Array(rows.buffer, rows.byteOffset, 2 * K);

  /** Decodes weight rows r (and r + 1 when `two`) into the scratch rows. */
  const decodeRows = (r: number, two: boolean): void => {
    const count = two ? 2 * K : K;
    if (bf16 !== null) decodeBF16Into(bf16, r * K, count, rowBits!, 0);
    else decodeRange(w, r * K, count, rows!, 0);
  };

  const prefill = (n: number): void => {
    let r = 0;
    for (; r + 1 < N; r += 2) {
      const ba = bias === null ? 0 : bias[r];
      const bb = bias === null ? 0 : bias[r + 1];
      if (wf32 !== null) {
        rowPairTimesTokens(wf32, r * K, r * K + K, x, n, K, out, N, r, ba, bb);
      } else {
        decodeRows(r, true);
        rowPairTimesTokens(rows!, 0, K, x, n, K, out, N, r, ba, bb);
      }
    }
    if (r < N) {
      const b = bias === null ? 0 : bias[r];
      if (wf32 !== null) {
        rowTimesTokens(wf32, r * K, x, n, K, out, N, r, b);
      } else {
        decodeRows(r, false);
        rowTimesTokens(rows!, 0, x, n, K, out, N, r, b);
      }
    }
  };

  switch (w.dtype) {
    case 'f32': {
      const wf = w.f32;
      return (s) => (s.n === 1 ? matvecF32(wf, x, out, N, K, bias) : prefill(s.n));
    }
    case 'f16': {
      const wu = w.u16;
      return (s) => (s.n === 1 ? matvecF16(wu, x, out, N, K, bias) : prefill(s.n));
    }
    case 'bf16':
      return (s) => prefill(s.n);
    case 'q8_0': {
      const { bytes, i8 } = w;
      return (s) => (s.n === 1 ? matvecQ8(bytes, i8, x, out, N, K, bias) : prefill(s.n));
    }
    case 'bx':
      // Registered separately as matmul[bx] (matmul_bx.ts); the registry never routes bx here.
      throw new Error(`${ctx.label}: bx weights are handled by the matmul[bx] kernel`);
  }
}

function matmulKernel(weightDType: WeightDType): CpuKernel<'matmul'> {
  return { kind: 'matmul', weightDType, fn: compileMatmul };
}

export const matmulF32Kernel = matmulKernel('f32');
export const matmulF16Kernel = matmulKernel('f16');
export const matmulBF16Kernel = matmulKernel('bf16');
export const matmulQ8_0Kernel = matmulKernel('q8_0');
