/**
 * attention: causal, grouped-query. Query row t (position pos + t), head h
 * reads kv head floor(h * kvHeads / heads) and attends to cache rows
 * 0..pos+t: scores = q·k * scale, softmax with the max subtracted, then the
 * probability-weighted sum of v rows. Scores, softmax and the weighted sum
 * are accumulated in float64 and the result rounded to f32 once.
 */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

function compileAttention(op: OpOf<'attention'>, ctx: KernelContext): KernelStep {
  const q = ctx.f32(op.q);
  const kc = ctx.f32(op.kCache);
  const vc = ctx.f32(op.vCache);
  const out = ctx.f32(op.out);
  const { heads, kvHeads, headDim, scale } = op;
  const qWidth = heads * headDim;
  const kvWidth = kvHeads * headDim;
  const context = op.kCache.shape[0];
  const att = new Float64Array(context);
  const acc = new Float64Array(headDim);
  ctx.account(att.byteLength + acc.byteLength);
  const hd4 = headDim - 3;
  // SpecEE `mask` policy: earlier positions that exited before this layer have no K/V here.
  const exitLayers = op.exitLayers ? ctx.i32(op.exitLayers) : null;
  const layer = op.layer ?? 0;
  return (s) => {
    for (let t = 0; t < s.n; t++) {
      const L = s.pos + t + 1;
      for (let h = 0; h < heads; h++) {
        const qo = t * qWidth + h * headDim;
        const ko = Math.floor((h * kvHeads) / heads) * headDim;
        let max = -Infinity;
        for (let p = 0; p < L; p++) {
          if (exitLayers !== null && p < s.pos && exitLayers[p] < layer) {
            att[p] = -Infinity;
            continue;
          }
          const kb = p * kvWidth + ko;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let j = 0;
          for (; j < hd4; j += 4) {
            s0 += q[qo + j] * kc[kb + j];
            s1 += q[qo + j + 1] * kc[kb + j + 1];
            s2 += q[qo + j + 2] * kc[kb + j + 2];
            s3 += q[qo + j + 3] * kc[kb + j + 3];
          }
          for (; j < headDim; j++) s0 += q[qo + j] * kc[kb + j];
          const sc = (s0 + s1 + (s2 + s3)) * scale;
          att[p] = sc;
          if (sc > max) max = sc;
        }
        // exp(score - max) and the weighted sum of v in one pass; normalise once at the end.
        let sum = 0;
        acc.fill(0);
        let p = 0;
        for (; p + 3 < L; p += 4) {
          const e0 = Math.exp(att[p] - max);
          const e1 = Math.exp(att[p + 1] - max);
          const e2 = Math.exp(att[p + 2] - max);
          const e3 = Math.exp(att[p + 3] - max);
          sum += e0 + e1 + (e2 + e3);
          const v0 = p * kvWidth + ko;
          const v1 = v0 + kvWidth;
          const v2 = v1 + kvWidth;
          const v3 = v2 + kvWidth;
          for (let j = 0; j < headDim; j++) {
            acc[j] += e0 * vc[v0 + j] + e1 * vc[v1 + j] + (e2 * vc[v2 + j] + e3 * vc[v3 + j]);
          }
        }
        for (; p < L; p++) {
          const e = Math.exp(att[p] - max);
          sum += e;
          const vb = p * kvWidth + ko;
          for (let j = 0; j < headDim; j++) acc[j] += e * vc[vb + j];
        }
        const inv = 1 / sum;
        for (let j = 0; j < headDim; j++) out[qo + j] = acc[j] * inv;
      }
    }
  };
}

export const attentionKernel: CpuKernel<'attention'> = { kind: 'attention', fn: compileAttention };
