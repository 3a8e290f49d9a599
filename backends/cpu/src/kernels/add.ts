/** add: out = a + b over the active rows (out may alias a or b). */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

function compileAdd(op: OpOf<'add'>, ctx: KernelContext): KernelStep {
  const a = ctx.f32(op.a);
  const b = ctx.f32(op.b);
  const out = ctx.f32(op.out);
  const width = op.a.shape[1];
  return (s) => {
    const m = s.n * width;
    for (let i = 0; i < m; i++) out[i] = a[i] + b[i];
  };
}

export const addKernel: CpuKernel<'add'> = { kind: 'add', fn: compileAdd };
