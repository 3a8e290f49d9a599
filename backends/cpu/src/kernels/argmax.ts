/** argmax: out[0] = index of the largest value of x[0]; lowest index on ties; NaN never wins (all NaN → 0). */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

/** Index of the largest of v[offset..offset+count) relative to offset; lowest on ties; NaN skipped. */
export function argmaxOf(v: ArrayLike<number>, offset: number, count: number): number {
  let best = 0;
  let bestValue = -Infinity;
  let found = false;
  for (let i = 0; i < count; i++) {
    const x = v[offset + i];
    if (x > bestValue || (!found && x === bestValue)) {
      bestValue = x;
      best = i;
      found = true;
    }
  }
  return best;
}

function compileArgmax(op: OpOf<'argmax'>, ctx: KernelContext): KernelStep {
  const x = ctx.f32(op.x);
  const out = ctx.i32(op.out);
  const width = op.x.shape[1];
  return () => {
    out[0] = argmaxOf(x, 0, width);
  };
}

export const argmaxKernel: CpuKernel<'argmax'> = { kind: 'argmax', fn: compileArgmax };
