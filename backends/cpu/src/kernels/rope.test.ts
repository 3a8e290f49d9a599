import { describe, expect, it } from 'vitest';
import type { RopeStyle } from '@bitexit/backend';
import { CpuBackend } from '../backend.js';
import { buffer, expectClose, randomF32, runOps } from '../testing/helpers.js';

const fr = Math.fround;

/** invFreq exactly as llama2.c computes it in float: 1.0f / powf(10000.0f, head_dim / (float)head_size). */
function llama2cInvFreq(ropeDim: number, base = 10000): Float32Array {
  const f = new Float32Array(ropeDim / 2);
  for (let i = 0; i < ropeDim / 2; i++) f[i] = fr(1 / fr(Math.pow(base, fr((2 * i) / ropeDim))));
  return f;
}

/** Float64 reference of the op's semantics (angle in f64 from the f32 invFreq). */
function reference(x: Float32Array, n: number, pos: number, heads: number, headDim: number, ropeDim: number, style: RopeStyle, invFreq: Float32Array) {
  const out = Float64Array.from(x);
  const half = ropeDim / 2;
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < heads; h++) {
      const base = t * heads * headDim + h * headDim;
      for (let i = 0; i < half; i++) {
        const a = (pos + t) * invFreq[i];
        const [ia, ib] = style === 'adjacent' ? [base + 2 * i, base + 2 * i + 1] : [base + i, base + i + half];
        const x0 = x[ia];
        const x1 = x[ib];
        out[ia] = x0 * Math.cos(a) - x1 * Math.sin(a);
        out[ib] = x0 * Math.sin(a) + x1 * Math.cos(a);
      }
    }
  }
  return out;
}

async function runRope(xv: Float32Array, rows: number, n: number, pos: number, heads: number, headDim: number, ropeDim: number, style: RopeStyle, invFreq: Float32Array) {
  const be = new CpuBackend();
  const x = buffer(be, rows, heads * headDim, 'x', xv);
  const [y] = await runOps(be, rows, [{ kind: 'rope', x, heads, headDim, ropeDim, style, invFreq }], [{ buffer: x, rows: rows }], { pos, n });
  await be.dispose();
  return y as Float32Array;
}

describe('rope', () => {
  for (const style of ['adjacent', 'half'] as const) {
    for (const [heads, headDim, ropeDim] of [
      [1, 2, 2],
      [8, 8, 8],
      [4, 64, 64],
      [2, 64, 32],
      [3, 12, 4],
    ]) {
      it(`${style}: ${heads} heads × ${headDim}, ropeDim ${ropeDim}, pos 0 and pos 37, n = 1 and 4`, async () => {
        const invFreq = llama2cInvFreq(ropeDim);
        for (const [pos, n] of [
          [0, 1],
          [37, 1],
          [5, 4],
          [1000, 3],
        ]) {
          const rows = 4;
          const xv = randomF32(rows * heads * headDim, pos + n + heads);
          const y = await runRope(xv, rows, n, pos, heads, headDim, ropeDim, style, invFreq);
          const ref = reference(xv, n, pos, heads, headDim, ropeDim, style, invFreq);
          // Angles are rounded to f32 like llama2.c/PyTorch; at pos 1000 that moves them by up to ~3e-5.
          expectClose(y.subarray(0, n * heads * headDim), ref.subarray(0, n * heads * headDim), pos >= 1000 ? 1e-4 : 2e-6);
          // Inactive rows untouched; dims past ropeDim untouched.
          expect([...y.subarray(n * heads * headDim)]).toEqual([...xv.subarray(n * heads * headDim)]);
          for (let h = 0; h < heads; h++) {
            for (let j = ropeDim; j < headDim; j++) expect(y[h * headDim + j]).toBe(xv[h * headDim + j]);
          }
        }
      });
    }
  }

  it('matches llama2.c run.c float arithmetic within 1e-6 (adjacent, head_size 48, pos up to 255)', async () => {
    const heads = 6;
    const headSize = 48;
    const dim = heads * headSize;
    const invFreq = llama2cInvFreq(headSize);
    for (const pos of [0, 1, 17, 128, 255]) {
      const xv = randomF32(dim, pos + 1);
      const y = await runRope(xv, 1, 1, pos, heads, headSize, headSize, 'adjacent', invFreq);
      // run.c: for (i = 0; i < dim; i += 2) { head_dim = i % head_size; freq = 1/powf(10000, head_dim/(float)head_size);
      //   val = pos*freq; fcr = cosf(val); fci = sinf(val); v0 = vec[i]; v1 = vec[i+1];
      //   vec[i] = v0*fcr - v1*fci; vec[i+1] = v0*fci + v1*fcr; }
      const ref = new Float32Array(dim);
      for (let i = 0; i < dim; i += 2) {
        const headDim = i % headSize;
        const freq = fr(1 / fr(Math.pow(10000, fr(headDim / headSize))));
        const val = fr(pos * freq);
        const fcr = fr(Math.cos(val));
        const fci = fr(Math.sin(val));
        const v0 = xv[i];
        const v1 = xv[i + 1];
        ref[i] = fr(fr(v0 * fcr) - fr(v1 * fci));
        ref[i + 1] = fr(fr(v0 * fci) + fr(v1 * fcr));
      }
      expectClose(y, ref, 1e-6);
    }
  });
});
