/**
 * rope: in-place rotary embedding. Row t (position pos + t), pair i of each
 * head rotates by angle = f32(pos + t) * invFreq[i], the angle rounded to f32
 * and cos/sin rounded to f32, as llama2.c (`val = pos * freq; cosf(val)`) and
 * Hugging Face (f32 `inv_freq @ position_ids`) compute them. Only the first
 * ropeDim dims of each head rotate; the rest pass through.
 * 'adjacent' pairs (2i, 2i+1); 'half' pairs (i, i + ropeDim/2).
 */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

const fround = Math.fround;

function compileRope(op: OpOf<'rope'>, ctx: KernelContext): KernelStep {
  const x = ctx.f32(op.x);
  const { heads, headDim, ropeDim } = op;
  const half = ropeDim >> 1;
  const invFreq = Float32Array.from(op.invFreq);
  const cos = ctx.scratch(half);
  const sin = ctx.scratch(half);
  const width = heads * headDim;
  const adjacent = op.style === 'adjacent';
  return (s) => {
    for (let t = 0; t < s.n; t++) {
      const p = s.pos + t;
      for (let i = 0; i < half; i++) {
        const angle = fround(p * invFreq[i]);
        cos[i] = Math.cos(angle);
        sin[i] = Math.sin(angle);
      }
      const row = t * width;
      for (let h = 0; h < heads; h++) {
        const base = row + h * headDim;
        if (adjacent) {
          for (let i = 0; i < half; i++) {
            const a = base + 2 * i;
            const x0 = x[a];
            const x1 = x[a + 1];
            const c = cos[i];
            const sn = sin[i];
            x[a] = x0 * c - x1 * sn;
            x[a + 1] = x0 * sn + x1 * c;
          }
        } else {
          for (let i = 0; i < half; i++) {
            const a = base + i;
            const b = a + half;
            const x0 = x[a];
            const x1 = x[b];
            const c = cos[i];
            const sn = sin[i];
            x[a] = x0 * c - x1 * sn;
            x[b] = x0 * sn + x1 * c;
          }
        }
      }
    }
  };
}

export const ropeKernel: CpuKernel<'rope'> = { kind: 'rope', fn: compileRope };
