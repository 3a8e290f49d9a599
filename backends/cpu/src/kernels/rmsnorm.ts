/**
 * rmsnorm: out[t] = x[t] * (1 / sqrt(mean(x[t]^2) + eps)) * weight, the
 * llama2.c formulation (ss = sum x^2; ss /= n; ss += eps; ss = 1/sqrt(ss);
 * out = weight * (ss * x)), accumulated in float64, stored as f32.
 * A non-f32 weight vector is decoded once at compile time (it is [dim]).
 */
import type { WeightDType } from '@bitexit/format';
import { decodeRange } from '../storage.js';
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

/** One row: out[oo..oo+D) = rmsnorm(x[xo..xo+D)) * w. */
export function rmsnormRow(x: Float32Array, xo: number, w: Float32Array, out: Float32Array, oo: number, D: number, eps: number): void {
  let ss = 0;
  for (let j = 0; j < D; j++) {
    const v = x[xo + j];
    ss += v * v;
  }
  const inv = 1 / Math.sqrt(ss / D + eps);
  for (let j = 0; j < D; j++) out[oo + j] = w[j] * (inv * x[xo + j]);
}

function compileRmsnorm(op: OpOf<'rmsnorm'>, ctx: KernelContext): KernelStep {
  const wd = ctx.weight(op.weight);
  const D = wd.cols * wd.rows;
  let w: Float32Array;
  if (wd.dtype === 'f32') {
    w = wd.f32;
  } else {
    w = ctx.scratch(D);
    decodeRange(wd, 0, D, w, 0);
  }
  const x = ctx.f32(op.x);
  const out = ctx.f32(op.out);
  const eps = op.eps;
  return (s) => {
    for (let t = 0; t < s.n; t++) rmsnormRow(x, t * D, w, out, t * D, D, eps);
  };
}

function rmsnormKernel(weightDType: WeightDType): CpuKernel<'rmsnorm'> {
  return { kind: 'rmsnorm', weightDType, fn: compileRmsnorm };
}

export const rmsnormF32Kernel = rmsnormKernel('f32');
export const rmsnormF16Kernel = rmsnormKernel('f16');
export const rmsnormBF16Kernel = rmsnormKernel('bf16');
export const rmsnormQ8_0Kernel = rmsnormKernel('q8_0');
