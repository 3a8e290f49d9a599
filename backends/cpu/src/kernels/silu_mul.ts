/** silu_mul: out = gate / (1 + exp(-gate)) * up over the active rows. */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

function compileSiluMul(op: OpOf<'silu_mul'>, ctx: KernelContext): KernelStep {
  const g = ctx.f32(op.gate);
  const u = ctx.f32(op.up);
  const out = ctx.f32(op.out);
  const width = op.gate.shape[1];
  return (s) => {
    const m = s.n * width;
    for (let i = 0; i < m; i++) {
      const x = g[i];
      out[i] = (x / (1 + Math.exp(-x))) * u[i];
    }
  };
}

export const siluMulKernel: CpuKernel<'silu_mul'> = { kind: 'silu_mul', fn: compileSiluMul };
