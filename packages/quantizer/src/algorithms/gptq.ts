/**
 * GPTQ (Frantar et al., 2023, "GPTQ: Accurate Post-Training Quantization for
 * Generative Pre-trained Transformers"), following the reference
 * implementation: H = 2XᵀX/n (accumulated by the caller), dead inputs
 * (H_kk = 0) zeroed, damping λ·mean(diag H)·I, the upper Cholesky factor of
 * H⁻¹, and column-by-column quantization whose error is spread over the
 * not-yet-quantized columns, with lazy block updates.
 *
 * Group parameters are STATIC (computed by the caller on the original
 * weights before the loop, like GPTQ's `static_groups`), so act-order can
 * permute the processing order while the file keeps the original column
 * grouping.
 */
import { NotPositiveDefiniteError, upperCholeskyOfInverse } from './linalg.js';
import { quantizeValue, type GroupParams } from './rtn.js';
import { f16Round } from './f16.js';

export interface GptqOptions {
  /** Relative damping λ (added λ·mean(diag H) to the diagonal). Default 0.01. */
  damp?: number;
  /** Columns per lazy-update block. Default 128. */
  blockSize?: number;
  /** Process columns by descending H_kk. Default false. */
  actOrder?: boolean;
}

export interface GptqInput {
  /** Row-major [rows, cols] weights (not modified). */
  w: Float32Array;
  rows: number;
  cols: number;
  groupSize: number;
  /** Width of each column group. */
  widths: ArrayLike<number>;
  /** Fixed params per (row, group). */
  params: GroupParams;
  /** Full Hessian, row-major [cols, cols] (not modified). */
  h: Float64Array;
  /** Positions kept as 16-bit outliers: flat indices r·cols + c. */
  outlierMask?: Uint8Array;
}

export interface GptqResult {
  codes: Uint8Array;
  /** Values of the outlier positions (f16-rounded), in row-major order of their positions. */
  outliers: { rows: Uint32Array; cols: Uint32Array; values: Float32Array };
  /** Σ of the per-column losses (w − ŵ)² / [H⁻¹]_kk / 2, GPTQ's objective estimate. */
  loss: number;
  /** The damping actually used (raised when H + λI was not positive definite). */
  damp: number;
}

export function gptqQuantize(input: GptqInput, options: GptqOptions = {}): GptqResult {
  const { rows, cols, groupSize, widths, params } = input;
  const blockSize = options.blockSize ?? 128;
  const n = cols;
  // Column-major working copy: wt[c·rows + r].
  const wt = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wt[c * rows + r] = input.w[r * cols + c]!;
  const h = Float64Array.from(input.h);
  for (let k = 0; k < n; k++) {
    if (h[k * n + k] === 0) {
      h[k * n + k] = 1;
      for (let r = 0; r < rows; r++) wt[k * rows + r] = 0;
    }
  }
  const perm = new Int32Array(n);
  for (let k = 0; k < n; k++) perm[k] = k;
  if (options.actOrder) {
    const d = Array.from({ length: n }, (_, k) => h[k * n + k]!);
    perm.sort((a, b) => d[b]! - d[a]! || a - b);
  }
  // Permuted Hessian.
  const hp = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) hp[i * n + j] = h[perm[i]! * n + perm[j]!]!;
  let meanDiag = 0;
  for (let k = 0; k < n; k++) meanDiag += hp[k * n + k]!;
  meanDiag /= n;
  let damp = options.damp ?? 0.01;
  let u: Float64Array | null = null;
  for (let attempt = 0; attempt < 8 && !u; attempt++) {
    const a = Float64Array.from(hp);
    for (let k = 0; k < n; k++) a[k * n + k] += damp * meanDiag;
    try {
      u = upperCholeskyOfInverse(a, n);
    } catch (e) {
      if (!(e instanceof NotPositiveDefiniteError)) throw e;
      damp *= 10;
    }
  }
  if (!u) throw new Error('GPTQ: the Hessian stayed singular after damping');

  const codes = new Uint8Array(rows * cols);
  const mask = input.outlierMask;
  const oRows: number[] = [];
  const oCols: number[] = [];
  const oVals: number[] = [];
  const groups = params.groups;
  let loss = 0;
  const err = new Float64Array(blockSize * rows);
  // Work in permuted column order: column i of the loop is original column perm[i].
  const col = (i: number) => perm[i]! * rows;
  for (let i1 = 0; i1 < n; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, n);
    for (let i = i1; i < i2; i++) {
      const c = perm[i]!;
      const g = (c / groupSize) | 0;
      const maxq = (1 << widths[g]!) - 1;
      const d = u[i * n + i]!;
      const base = col(i);
      const eb = (i - i1) * rows;
      for (let r = 0; r < rows; r++) {
        const x = wt[base + r]!;
        let qv: number;
        if (mask && mask[r * cols + c]) {
          qv = f16Round(x);
          oRows.push(r);
          oCols.push(c);
          oVals.push(qv);
          codes[r * cols + c] = 0;
        } else {
          const pi = r * groups + g;
          const s = params.scales[pi]!;
          const z = params.zeros[pi]!;
          const q = quantizeValue(x, s, z, maxq);
          codes[r * cols + c] = q;
          qv = s * (q - z);
        }
        const e = (x - qv) / d;
        loss += ((x - qv) * (x - qv)) / (d * d) / 2;
        err[eb + r] = e;
      }
      // Spread this column's error over the rest of the block.
      for (let j = i + 1; j < i2; j++) {
        const hij = u[i * n + j]!;
        if (hij === 0) continue;
        const bj = col(j);
        for (let r = 0; r < rows; r++) wt[bj + r] -= err[eb + r]! * hij;
      }
    }
    // Lazy batch update of the columns after the block.
    for (let j = i2; j < n; j++) {
      const bj = col(j);
      for (let i = i1; i < i2; i++) {
        const hij = u[i * n + j]!;
        if (hij === 0) continue;
        const eb = (i - i1) * rows;
        for (let r = 0; r < rows; r++) wt[bj + r] -= err[eb + r]! * hij;
      }
    }
  }
  // Outliers in row-major order of their positions.
  const order = oRows.map((_, j) => j).sort((a, b) => oRows[a]! * cols + oCols[a]! - (oRows[b]! * cols + oCols[b]!));
  return {
    codes,
    outliers: {
      rows: Uint32Array.from(order, (j) => oRows[j]!),
      cols: Uint32Array.from(order, (j) => oCols[j]!),
      values: Float32Array.from(order, (j) => oVals[j]!),
    },
    loss,
    damp,
  };
}
