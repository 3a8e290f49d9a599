/**
 * Row-times-tokens products shared by the matmul kernels of every storage
 * type: a weight row (already f32, or decoded into scratch) multiplied with
 * up to 4 tokens per pass, and the bias decoded once at compile time.
 */
import type { DeviceWeight } from '@bitexit/backend';
import { decodeRange } from '../storage.js';
import type { KernelContext } from './registry.js';

/** Dot product of w[wo..wo+K) and x[xo..xo+K), 4 accumulators. */
export function dot(w: Float32Array, wo: number, x: Float32Array, xo: number, K: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  const K4 = K - 3;
  for (; j < K4; j += 4) {
    s0 += w[wo + j] * x[xo + j];
    s1 += w[wo + j + 1] * x[xo + j + 1];
    s2 += w[wo + j + 2] * x[xo + j + 2];
    s3 += w[wo + j + 3] * x[xo + j + 3];
  }
  for (; j < K; j++) s0 += w[wo + j] * x[xo + j];
  return s0 + s1 + (s2 + s3);
}

/**
 * out[t, r] = w[wo..wo+K) · x[t] + b for t < n, 4 tokens per pass so each
 * weight element is loaded once per 4 tokens.
 */
export function rowTimesTokens(
  w: Float32Array,
  wo: number,
  x: Float32Array,
  n: number,
  K: number,
  out: Float32Array,
  N: number,
  r: number,
  b: number,
): void {
  let t = 0;
  for (; t + 3 < n; t += 4) {
    const x0 = t * K;
    const x1 = x0 + K;
    const x2 = x1 + K;
    const x3 = x2 + K;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < K; j++) {
      const wj = w[wo + j];
      s0 += wj * x[x0 + j];
      s1 += wj * x[x1 + j];
      s2 += wj * x[x2 + j];
      s3 += wj * x[x3 + j];
    }
    const o = t * N + r;
    out[o] = s0 + b;
    out[o + N] = s1 + b;
    out[o + 2 * N] = s2 + b;
    out[o + 3 * N] = s3 + b;
  }
  for (; t < n; t++) out[t * N + r] = dot(w, wo, x, t * K, K) + b;
}

/**
 * out[t, r] and out[t, r + 1] for t < n from two weight rows at wa and wb:
 * 4 tokens × 2 rows = 8 accumulators per pass.
 */
export function rowPairTimesTokens(
  w: Float32Array,
  wa: number,
  wb: number,
  x: Float32Array,
  n: number,
  K: number,
  out: Float32Array,
  N: number,
  r: number,
  ba: number,
  bb: number,
): void {
  let t = 0;
  for (; t + 3 < n; t += 4) {
    const x0 = t * K;
    const x1 = x0 + K;
    const x2 = x1 + K;
    const x3 = x2 + K;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    for (let j = 0; j < K; j++) {
      const u = w[wa + j];
      const v = w[wb + j];
      const y0 = x[x0 + j];
      const y1 = x[x1 + j];
      const y2 = x[x2 + j];
      const y3 = x[x3 + j];
      a0 += u * y0;
      a1 += u * y1;
      a2 += u * y2;
      a3 += u * y3;
      b0 += v * y0;
      b1 += v * y1;
      b2 += v * y2;
      b3 += v * y3;
    }
    const o = t * N + r;
    out[o] = a0 + ba;
    out[o + 1] = b0 + bb;
    out[o + N] = a1 + ba;
    out[o + N + 1] = b1 + bb;
    out[o + 2 * N] = a2 + ba;
    out[o + 2 * N + 1] = b2 + bb;
    out[o + 3 * N] = a3 + ba;
    out[o + 3 * N + 1] = b3 + bb;
  }
  for (; t < n; t++) {
    const xo = t * K;
    let a = 0;
    let b = 0;
    for (let j = 0; j < K; j++) {
      const y = x[xo + j];
      a += w[wa + j] * y;
      b += w[wb + j] * y;
    }
    const o = t * N + r;
    out[o] = a + ba;
    out[o + 1] = b + bb;
  }
}

/** A matmul's bias decoded to f32 once, at compile time (null when there is none). */
export function decodeBias(ctx: KernelContext, bias: DeviceWeight | undefined): Float32Array | null {
  if (!bias) return null;
  const b = ctx.weight(bias);
  const out = ctx.scratch(b.rows * b.cols);
  decodeRange(b, 0, out.length, out, 0);
  return out;
}
