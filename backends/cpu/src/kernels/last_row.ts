/** last_row: out[0] = x[n - 1] (x and out may be the same buffer). */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

function compileLastRow(op: OpOf<'last_row'>, ctx: KernelContext): KernelStep {
  const x = ctx.f32(op.x);
  const out = ctx.f32(op.out);
  const width = op.x.shape[1];
  return (s) => {
    const base = (s.n - 1) * width;
    if (x === out) {
      if (base !== 0) out.copyWithin(0, base, base + width);
      return;
    }
    for (let j = 0; j < width; j++) out[j] = x[base + j];
  };
}

export const lastRowKernel: CpuKernel<'last_row'> = { kind: 'last_row', fn: compileLastRow };
