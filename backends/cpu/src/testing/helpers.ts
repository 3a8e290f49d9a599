/** Test-only helpers (not exported from the package). */
import type { Backend, DeviceBuffer, Op, ReadbackData, RunParams } from '@bitexit/backend';
import { encodeBf16, encodeF16, encodeF32, encodeQ8_0, decodeToF32, type WeightDType } from '@bitexit/format';
import { expect } from 'vitest';

/** Deterministic xorshift32 generator of floats in [-1, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * scale;
  return a;
}

/** Encodes values in `dtype`; returns the bytes and the exact f32 values the weight then holds. */
export function makeWeight(name: string, dtype: WeightDType, shape: number[], values: Float32Array) {
  const data =
    dtype === 'f32' ? encodeF32(values) : dtype === 'f16' ? encodeF16(values) : dtype === 'bf16' ? encodeBf16(values) : encodeQ8_0(values, shape);
  const tensor = { name, dtype, shape, data };
  return { tensor, exact: decodeToF32(tensor) };
}

export async function upload(be: Backend, name: string, dtype: WeightDType, shape: number[], values: Float32Array) {
  const { tensor, exact } = makeWeight(name, dtype, shape, values);
  return { weight: await be.uploadWeight(tensor), exact };
}

/** A buffer [rows, cols] filled with `data` (if given). */
export function buffer(be: Backend, rows: number, cols: number, label: string, data?: Float32Array | Int32Array, dtype: 'f32' | 'i32' = 'f32') {
  const b = be.createBuffer(data instanceof Int32Array ? 'i32' : dtype, [rows, cols], label);
  if (data) be.writeBuffer(b, data);
  return b;
}

/** Compiles `ops` as one program and runs it once, returning the outputs. */
export async function runOps(
  be: Backend,
  maxRows: number,
  ops: Op[],
  outputs: { buffer: DeviceBuffer; rows: 'active' | number }[],
  params: RunParams,
): Promise<ReadbackData[]> {
  const p = be.compile({ label: 'test', maxRows, ops, outputs });
  try {
    return await be.run(p, params);
  } finally {
    be.release(p);
  }
}

/** Max |a - b| / (atol + rtol |b|) must be <= 1. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]));
    if (Number.isNaN(e)) {
      worst = Infinity;
      at = i;
      break;
    }
    if (e > worst) {
      worst = e;
      at = i;
    }
  }
  if (!(worst <= 1)) {
    expect.fail(`element ${at}: got ${actual[at]}, expected ${expected[at]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Reference matmul in float64: out[t][r] = sum_k W[r][k] x[t][k] (+ b[r]). */
export function matmulReference(w: Float32Array, x: Float32Array, n: number, N: number, K: number, bias?: Float32Array): Float64Array {
  const out = new Float64Array(n * N);
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < N; r++) {
      let s = bias ? bias[r]! : 0;
      for (let k = 0; k < K; k++) s += w[r * K + k]! * x[t * K + k]!;
      out[t * N + r] = s;
    }
  }
  return out;
}
