/**
 * matmul[bx]: out[t] = W · x[t] (+ bias) with W stored in the bitexit
 * mixed-precision matrix format (packages/format/SPEC.md), read straight
 * from the packed blob; the matrix is never expanded to f32 as a whole.
 *
 * - decode (n = 1): per row, per column group g of width b,
 *     Σ_i s (q_i − z) x_i = s · (Σ_i q_i x_i − z · Σ_i x_i),
 *   with the per-group Σ x_i computed once per step and Σ q_i x_i unpacked
 *   one u32 word at a time (16 two-bit or 8 four-bit codes; a 3-bit step
 *   reads a 2-bit word and 16 bits of the 1-bit plane). x is copied
 *   into a zero-padded buffer so a partial last group (stored up to its
 *   last word) runs the same loop over fewer words.
 *   Outliers (whose stored code is the zero, so the quantized part adds
 *   exactly 0) add value · x[col].
 * - prefill (n > 1): two rows at a time are dequantized exactly
 *   (dequantizeBxRows: a row of f32, never the whole matrix) and multiplied
 *   with 4 tokens per pass, so each code is unpacked once per run.
 */
import { bxRowParams, dequantizeBxRows, f16Lut, type BxView } from '@bitexit/format';
import { decodeBias, rowPairTimesTokens, rowTimesTokens } from './row-products.js';
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

/**
 * Σ_i q_i · x[xo + i] of one group, reading its `nw` packed words (8 four-bit
 * or 16 two-bit codes each; fewer than a full group's for a partial last
 * group, whose codes are stored only up to the word boundary).
 */
function groupDot(w: Uint32Array, b: number, base: number, hbase: number, nw: number, x: Float32Array, xo: number): number {
  let a0 = 0;
  let a1 = 0;
  if (b === 4) {
    for (let k = 0, e = base + nw; base < e; base++, k += 8) {
      const v = w[base];
      const i = xo + k;
      a0 += (v & 15) * x[i] + ((v >>> 4) & 15) * x[i + 1] + ((v >>> 8) & 15) * x[i + 2] + ((v >>> 12) & 15) * x[i + 3];
      a1 += ((v >>> 16) & 15) * x[i + 4] + ((v >>> 20) & 15) * x[i + 5] + ((v >>> 24) & 15) * x[i + 6] + (v >>> 28) * x[i + 7];
    }
    return a0 + a1;
  }
  if (b === 3) {
    // 16 codes per step: the 2-bit word k and the matching half of 1-bit word k >> 1.
    for (let k = 0; k < nw; k++) {
      const v = w[base + k];
      const h = w[hbase + (k >>> 1)] >>> ((k & 1) << 4);
      const i = xo + (k << 4);
      a0 +=
        ((v & 3) | ((h & 1) << 2)) * x[i] +
        (((v >>> 2) & 3) | (((h >>> 1) & 1) << 2)) * x[i + 1] +
        (((v >>> 4) & 3) | (((h >>> 2) & 1) << 2)) * x[i + 2] +
        (((v >>> 6) & 3) | (((h >>> 3) & 1) << 2)) * x[i + 3] +
        (((v >>> 8) & 3) | (((h >>> 4) & 1) << 2)) * x[i + 4] +
        (((v >>> 10) & 3) | (((h >>> 5) & 1) << 2)) * x[i + 5] +
        (((v >>> 12) & 3) | (((h >>> 6) & 1) << 2)) * x[i + 6] +
        (((v >>> 14) & 3) | (((h >>> 7) & 1) << 2)) * x[i + 7];
      a1 +=
        (((v >>> 16) & 3) | (((h >>> 8) & 1) << 2)) * x[i + 8] +
        (((v >>> 18) & 3) | (((h >>> 9) & 1) << 2)) * x[i + 9] +
        (((v >>> 20) & 3) | (((h >>> 10) & 1) << 2)) * x[i + 10] +
        (((v >>> 22) & 3) | (((h >>> 11) & 1) << 2)) * x[i + 11] +
        (((v >>> 24) & 3) | (((h >>> 12) & 1) << 2)) * x[i + 12] +
        (((v >>> 26) & 3) | (((h >>> 13) & 1) << 2)) * x[i + 13] +
        (((v >>> 28) & 3) | (((h >>> 14) & 1) << 2)) * x[i + 14] +
        (((v >>> 30) & 3) | (((h >>> 15) & 1) << 2)) * x[i + 15];
    }
    return a0 + a1;
  }
  for (let k = 0, e = base + nw; base < e; base++, k += 16) {
    const v = w[base];
    const i = xo + k;
    a0 +=
      (v & 3) * x[i] +
      ((v >>> 2) & 3) * x[i + 1] +
      ((v >>> 4) & 3) * x[i + 2] +
      ((v >>> 6) & 3) * x[i + 3] +
      ((v >>> 8) & 3) * x[i + 4] +
      ((v >>> 10) & 3) * x[i + 5] +
      ((v >>> 12) & 3) * x[i + 6] +
      ((v >>> 14) & 3) * x[i + 7];
    a1 +=
      ((v >>> 16) & 3) * x[i + 8] +
      ((v >>> 18) & 3) * x[i + 9] +
      ((v >>> 20) & 3) * x[i + 10] +
      ((v >>> 22) & 3) * x[i + 11] +
      ((v >>> 24) & 3) * x[i + 12] +
      ((v >>> 26) & 3) * x[i + 13] +
      ((v >>> 28) & 3) * x[i + 14] +
      (v >>> 30) * x[i + 15];
  }
  return a0 + a1;
}

export function compileMatmulBx(op: OpOf<'matmul'>, ctx: KernelContext): KernelStep {
  const wd = ctx.weight(op.weight);
  if (wd.dtype !== 'bx') throw new Error(`matmul[bx] got a ${wd.dtype} weight`);
  const view: BxView = wd.view;
  const L = view.layout;
  const { rows: N, cols: K, groupSize: G, nGroups } = L;
  const x = ctx.f32(op.x);
  const out = ctx.f32(op.out);
  const bias = decodeBias(ctx, op.bias);
  const w = view.words;
  const widths = view.widths;

  // Per group: word offset of its slot inside a row of its plane (4-bit, or 2-bit for widths 2 and 3),
  // of its 1-bit slot (width 3), and its number of stored words in the 4-/2-bit plane.
  const off = new Int32Array(nGroups);
  const offHi = new Int32Array(nGroups);
  const nw = new Int32Array(nGroups);
  for (let g = 0; g < nGroups; g++) {
    const b = widths[g];
    const m = g === nGroups - 1 ? L.lastGroupCols : G;
    if (b === 4) {
      off[g] = view.slot4[g] * (G >>> 3);
      nw[g] = Math.ceil(m / 8);
    } else {
      off[g] = view.slot2[g] * (G >>> 4);
      nw[g] = Math.ceil(m / 16);
    }
    offHi[g] = b === 3 ? view.slot1[g] * (G >>> 5) : 0;
  }
  const p4 = L.p4Offset >>> 2;
  const p2 = L.p2Offset >>> 2;
  const p1 = L.p1Offset >>> 2;
  const Kp = nGroups * G;
  const xpad = ctx.scratch(Kp);
  const xsum = ctx.scratch(nGroups);
  const params = ctx.scratch(2 * nGroups);
  const scales = params.subarray(0, nGroups);
  const zeros = params.subarray(nGroups);
  const C = L.outlierSlots;
  const en = L.outlierOffset >>> 2;
  const f16 = f16Lut();

  const matvec = (): void => {
    for (let c = 0; c < K; c++) xpad[c] = x[c];
    for (let g = 0; g < nGroups; g++) {
      let s = 0;
      const e = Math.min(K, (g + 1) * G);
      for (let c = g * G; c < e; c++) s += xpad[c];
      xsum[g] = s;
    }
    for (let r = 0; r < N; r++) {
      bxRowParams(view, r, scales, zeros);
      const r4 = p4 + r * L.p4RowWords;
      const r2 = p2 + r * L.p2RowWords;
      const r1 = p1 + r * L.p1RowWords;
      let acc = 0;
      for (let g = 0; g < nGroups; g++) {
        const b = widths[g];
        const dq = groupDot(w, b, (b === 4 ? r4 : r2) + off[g], r1 + offHi[g], nw[g], xpad, g * G);
        acc += scales[g] * (dq - zeros[g] * xsum[g]);
      }
      // Outliers (ELL slots; the first empty slot ends the row's list).
      for (let j = 0, e = en + r * C; j < C; j++) {
        const ent = w[e + j];
        if (ent === 0) break;
        acc += f16[ent >>> 16] * x[ent & 0xffff];
      }
      out[r] = bias === null ? acc : acc + bias[r];
    }
  };

  const rowsBuf = ctx.scratch(2 * K);
  const deqScratch = ctx.scratch(2 * nGroups);
  const prefill = (n: number): void => {
    let r = 0;
    for (; r + 1 < N; r += 2) {
      dequantizeBxRows(view, r, 2, rowsBuf, 0, deqScratch);
      rowPairTimesTokens(rowsBuf, 0, K, x, n, K, out, N, r, bias === null ? 0 : bias[r], bias === null ? 0 : bias[r + 1]);
    }
    if (r < N) {
      dequantizeBxRows(view, r, 1, rowsBuf, 0, deqScratch);
      rowTimesTokens(rowsBuf, 0, x, n, K, out, N, r, bias === null ? 0 : bias[r]);
    }
  };

  return (s) => (s.n === 1 ? matvec() : prefill(s.n));
}

export const matmulBxKernel: CpuKernel<'matmul'> = { kind: 'matmul', weightDType: 'bx', fn: compileMatmulBx };
