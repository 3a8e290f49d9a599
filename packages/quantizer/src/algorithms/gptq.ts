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
import { roundF16 } from '@bitexit/format';

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

/** The factor of one (Hessian, damping, order): what every GPTQ run with them shares. */
interface Factor {
  fingerprint: number;
  n: number;
  damp0: number;
  actOrder: boolean;
  perm: Int32Array;
  dead: Uint8Array;
  u: Float64Array;
  damp: number;
}

/**
 * Factors of recent Hessians, by the Hessian array itself (a weak key: dropped with it).
 * The quantizer runs GPTQ several times with one Hessian (q, k and v share theirs,
 * gate and up theirs, and every scale-refit round reruns GPTQ), and the factor
 * (O(n³): ~10¹² operations for a 7B's ffn_down) does not depend on the weights.
 * A content fingerprint guards against a Hessian modified in place between calls.
 */
const factorCache = new WeakMap<Float64Array, Factor[]>();

/** A 32-bit fingerprint of all the bytes of `h` (two multiplicative lanes). */
function fingerprint(h: Float64Array): number {
  const u = new Uint32Array(h.buffer, h.byteOffset, h.length * 2);
  let a = 0x9e3779b9 ^ h.length;
  let b = 0x85ebca6b;
  for (let i = 0; i < u.length; i += 2) {
    a = Math.imul(a ^ u[i]!, 0x01000193);
    b = Math.imul(b ^ u[i + 1]!, 0x5bd1e995) ^ (b >>> 13);
  }
  return (a ^ Math.imul(b, 0x27d4eb2d)) >>> 0;
}

/** Forget cached factors (tests; a caller that wants the memory back at once). */
export function clearGptqFactorCache(h?: Float64Array): void {
  if (h) factorCache.delete(h);
}

function factorOf(h0: Float64Array, n: number, damp0: number, actOrder: boolean): Factor {
  const fp = fingerprint(h0);
  const cached = factorCache.get(h0);
  const hit = cached?.find((f) => f.fingerprint === fp && f.n === n && f.damp0 === damp0 && f.actOrder === actOrder);
  if (hit) return hit;
  // Dead inputs (H_kk = 0) get H_kk = 1 (their weights are zeroed by the caller of this factor).
  const dead = new Uint8Array(n);
  const diag = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const v = h0[k * n + k]!;
    if (v === 0) dead[k] = 1;
    diag[k] = v === 0 ? 1 : v;
  }
  const perm = new Int32Array(n);
  for (let k = 0; k < n; k++) perm[k] = k;
  if (actOrder) perm.sort((a, b) => diag[b]! - diag[a]! || a - b);
  // Permuted Hessian, lower triangle (all the factorisation reads), diagonal kept aside for the damping retries.
  const hp = new Float64Array(n * n);
  const hd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = perm[i]! * n;
    const oi = i * n;
    for (let j = 0; j < i; j++) hp[oi + j] = h0[ri + perm[j]!]!;
    hd[i] = diag[perm[i]!]!;
  }
  let meanDiag = 0;
  for (let k = 0; k < n; k++) meanDiag += hd[k]!;
  meanDiag /= n;
  let damp = damp0;
  let u: Float64Array | null = null;
  for (let attempt = 0; attempt < 8 && !u; attempt++) {
    for (let k = 0; k < n; k++) hp[k * n + k] = hd[k]! + damp * meanDiag;
    try {
      u = upperCholeskyOfInverse(hp, n);
    } catch (e) {
      if (!(e instanceof NotPositiveDefiniteError)) throw e;
      damp *= 10;
    }
  }
  if (!u) throw new Error('GPTQ: the Hessian stayed singular after damping');
  const f: Factor = { fingerprint: fp, n, damp0, actOrder, perm, dead, u, damp };
  const list = (cached ?? []).filter((x) => x.fingerprint === fp);
  list.push(f);
  factorCache.set(h0, list);
  return f;
}

/** Rows per tile of the lazy batch update (the block's errors for a tile stay in cache). */
const ROW_TILE = 256;

export function gptqQuantize(input: GptqInput, options: GptqOptions = {}): GptqResult {
  const { rows, cols, groupSize, widths, params } = input;
  const blockSize = options.blockSize ?? 128;
  const n = cols;
  const { perm, dead, u, damp } = factorOf(input.h, n, options.damp ?? 0.01, options.actOrder ?? false);
  // Column-major working copy: wt[c·rows + r]; dead inputs zeroed.
  const wt = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wt[c * rows + r] = input.w[r * cols + c]!;
  for (let k = 0; k < n; k++) if (dead[k]) wt.fill(0, k * rows, (k + 1) * rows);

  const codes = new Uint8Array(rows * cols);
  const mask = input.outlierMask;
  const oRows: number[] = [];
  const oCols: number[] = [];
  const oVals: number[] = [];
  const groups = params.groups;
  let loss = 0;
  const err = new Float64Array(blockSize * rows);
  const nzI = new Int32Array(blockSize);
  const nzH = new Float64Array(blockSize);
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
          qv = roundF16(x);
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
    // Lazy batch update of the columns after the block: wt_j −= Σ_i err_i · U_ij, i ascending
    // (zero U_ij skipped), in tiles of rows so the block's errors stay in cache; four
    // terms per pass over a tile, each element still updated in the same order.
    for (let r0 = 0; r0 < rows; r0 += ROW_TILE) {
      const r1 = Math.min(r0 + ROW_TILE, rows);
      for (let j = i2; j < n; j++) {
        const bj = col(j);
        let m = 0;
        for (let i = i1; i < i2; i++) {
          const hij = u[i * n + j]!;
          if (hij === 0) continue;
          nzI[m] = (i - i1) * rows;
          nzH[m] = hij;
          m++;
        }
        let t = 0;
        for (; t + 3 < m; t += 4) {
          const e0 = nzI[t]!;
          const e1 = nzI[t + 1]!;
          const e2 = nzI[t + 2]!;
          const e3 = nzI[t + 3]!;
          const h0 = nzH[t]!;
          const h1 = nzH[t + 1]!;
          const h2 = nzH[t + 2]!;
          const h3 = nzH[t + 3]!;
          for (let r = r0; r < r1; r++) wt[bj + r] = wt[bj + r]! - err[e0 + r]! * h0 - err[e1 + r]! * h1 - err[e2 + r]! * h2 - err[e3 + r]! * h3;
        }
        for (; t < m; t++) {
          const e0 = nzI[t]!;
          const h0 = nzH[t]!;
          for (let r = r0; r < r1; r++) wt[bj + r] -= err[e0 + r]! * h0;
        }
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
