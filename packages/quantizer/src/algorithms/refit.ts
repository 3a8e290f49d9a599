/**
 * Row-blocked versions of matrix.ts's `refitScales` and `hessianError`, for
 * 7B-class matrices (ffn_down: H is 11008² f64 = 970 MB). The originals stream
 * the whole H from memory once per weight row (4096 times per call) and
 * `refitScales` reads H column-wise (stride = cols) in its inner loop, one
 * cache miss per multiply-add. These read H row-wise, once per block of
 * ROWS weight rows, and keep every floating-point sum in the original order,
 * so their results are BIT-IDENTICAL to matrix.ts's (refit.test.ts checks it;
 * H must be symmetric only in the sense that matrix.ts reads H[i][k], which is
 * what is read here too).
 */
import { dequantize, type GroupParams } from './rtn.js';

/** Weight rows processed together (H is read once per block). */
const ROWS = 8;

/** Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r), bit-identical to matrix.ts's `hessianError`. */
export function hessianErrorBlocked(w: Float32Array, wq: Float32Array, rows: number, cols: number, h: Float64Array): number {
  let total = 0;
  const d = new Float64Array(ROWS * cols);
  const contrib = new Float64Array(ROWS * cols);
  for (let r0 = 0; r0 < rows; r0 += ROWS) {
    const nb = Math.min(ROWS, rows - r0);
    for (let b = 0; b < nb; b++) {
      const rw = (r0 + b) * cols;
      const db = b * cols;
      for (let c = 0; c < cols; c++) d[db + c] = w[rw + c]! - wq[rw + c]!;
    }
    if (nb === ROWS) {
      for (let i = 0; i < cols; i++) {
        const hi = i * cols;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (let j = 0; j < cols; j++) {
          const x = h[hi + j]!;
          s0 += x * d[j]!;
          s1 += x * d[cols + j]!;
          s2 += x * d[2 * cols + j]!;
          s3 += x * d[3 * cols + j]!;
          s4 += x * d[4 * cols + j]!;
          s5 += x * d[5 * cols + j]!;
          s6 += x * d[6 * cols + j]!;
          s7 += x * d[7 * cols + j]!;
        }
        contrib[i] = d[i]! * s0;
        contrib[cols + i] = d[cols + i]! * s1;
        contrib[2 * cols + i] = d[2 * cols + i]! * s2;
        contrib[3 * cols + i] = d[3 * cols + i]! * s3;
        contrib[4 * cols + i] = d[4 * cols + i]! * s4;
        contrib[5 * cols + i] = d[5 * cols + i]! * s5;
        contrib[6 * cols + i] = d[6 * cols + i]! * s6;
        contrib[7 * cols + i] = d[7 * cols + i]! * s7;
      }
    } else {
      for (let b = 0; b < nb; b++) {
        const db = b * cols;
        for (let i = 0; i < cols; i++) {
          const hi = i * cols;
          let s = 0;
          for (let j = 0; j < cols; j++) s += h[hi + j]! * d[db + j]!;
          contrib[db + i] = d[db + i]! * s;
        }
      }
    }
    // The original order: row by row, i ascending, rows' zero differences skipped.
    for (let b = 0; b < nb; b++) {
      const db = b * cols;
      for (let i = 0; i < cols; i++) if (d[db + i] !== 0) total += contrib[db + i]!;
    }
  }
  return total;
}

/**
 * Scales minimising the full-Hessian error for fixed codes and zeros (see
 * matrix.ts's `refitScales`, whose results this reproduces bit for bit).
 */
export function refitScalesBlocked(
  w: Float32Array,
  rows: number,
  cols: number,
  groupSize: number,
  codes: Uint8Array,
  params: GroupParams,
  outliers: { rows: ArrayLike<number>; cols: ArrayLike<number>; values: ArrayLike<number> },
  h: Float64Array,
): Float32Array {
  const groups = params.groups;
  const scales = Float32Array.from(params.scales);
  const wq = dequantize(codes, rows, cols, groupSize, params, outliers);
  const isOutlier = new Uint8Array(rows * cols);
  for (let j = 0; j < outliers.values.length; j++) isOutlier[outliers.rows[j]! * cols + outliers.cols[j]!] = 1;
  const e = new Float64Array(ROWS * cols);
  const he = new Float64Array(ROWS * cols);
  const hu = new Float64Array(ROWS * cols);
  const u = new Float64Array(ROWS * groupSize);
  // Non-zero u_k of the current group per row: offsets inside the group and values (the sum skips zeros).
  const nzK = new Int32Array(ROWS * groupSize);
  const nzU = new Float64Array(ROWS * groupSize);
  const nzN = new Int32Array(ROWS);
  const active = new Uint8Array(ROWS);
  for (let r0 = 0; r0 < rows; r0 += ROWS) {
    const nb = Math.min(ROWS, rows - r0);
    for (let b = 0; b < nb; b++) {
      const rw = (r0 + b) * cols;
      for (let k = 0; k < cols; k++) e[b * cols + k] = w[rw + k]! - wq[rw + k]!;
    }
    // He = H e for every row of the block (each sum over j ascending from 0).
    for (let i = 0; i < cols; i++) {
      const hi = i * cols;
      if (nb === ROWS) {
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (let j = 0; j < cols; j++) {
          const x = h[hi + j]!;
          s0 += x * e[j]!;
          s1 += x * e[cols + j]!;
          s2 += x * e[2 * cols + j]!;
          s3 += x * e[3 * cols + j]!;
          s4 += x * e[4 * cols + j]!;
          s5 += x * e[5 * cols + j]!;
          s6 += x * e[6 * cols + j]!;
          s7 += x * e[7 * cols + j]!;
        }
        he[i] = s0;
        he[cols + i] = s1;
        he[2 * cols + i] = s2;
        he[3 * cols + i] = s3;
        he[4 * cols + i] = s4;
        he[5 * cols + i] = s5;
        he[6 * cols + i] = s6;
        he[7 * cols + i] = s7;
      } else {
        for (let b = 0; b < nb; b++) {
          let s = 0;
          for (let j = 0; j < cols; j++) s += h[hi + j]! * e[b * cols + j]!;
          he[b * cols + i] = s;
        }
      }
    }
    for (let sweep = 0; sweep < 2; sweep++) {
      for (let g = 0; g < groups; g++) {
        const c0 = g * groupSize;
        const c1 = Math.min(c0 + groupSize, cols);
        let anyRow = false;
        for (let b = 0; b < nb; b++) {
          const r = r0 + b;
          const z = params.zeros[r * groups + g]!;
          let m = 0;
          for (let k = c0; k < c1; k++) {
            const v = isOutlier[r * cols + k] ? 0 : codes[r * cols + k]! - z;
            u[b * groupSize + k - c0] = v;
            if (v !== 0) {
              nzK[b * groupSize + m] = k;
              nzU[b * groupSize + m] = v;
              m++;
            }
          }
          nzN[b] = m;
          active[b] = m > 0 ? 1 : 0;
          if (m > 0) anyRow = true;
        }
        if (!anyRow) continue;
        // hu_b[i] = Σ_{k in group, u_k ≠ 0} H[i][k] u_k, k ascending from 0 (row i of H: contiguous).
        for (let i = 0; i < cols; i++) {
          const hi = i * cols;
          for (let b = 0; b < nb; b++) {
            const m = nzN[b]!;
            if (m === 0) continue;
            const o = b * groupSize;
            let s = 0;
            for (let t = 0; t < m; t++) s += h[hi + nzK[o + t]!]! * nzU[o + t]!;
            hu[b * cols + i] = s;
          }
        }
        for (let b = 0; b < nb; b++) {
          if (!active[b]) continue;
          const pi = (r0 + b) * groups + g;
          const ob = b * cols;
          const ou = b * groupSize;
          let uHu = 0;
          let uHe = 0;
          for (let k = c0; k < c1; k++) {
            uHu += u[ou + k - c0]! * hu[ob + k]!;
            uHe += u[ou + k - c0]! * he[ob + k]!;
          }
          if (!(uHu > 0)) continue;
          const delta = uHe / uHu;
          const s = scales[pi]! + delta;
          if (!(s > 0) || !Number.isFinite(s)) continue;
          scales[pi] = s;
          for (let k = c0; k < c1; k++) e[ob + k] -= delta * u[ou + k - c0]!;
          for (let i = 0; i < cols; i++) he[ob + i] -= delta * hu[ob + i]!;
        }
      }
      if (groups === 1) break;
    }
  }
  return scales;
}
