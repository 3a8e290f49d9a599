/**
 * The straightforward implementations that linalg.ts, gptq.ts and rtn.ts's
 * clipping search replaced with faster loops (and matrix.ts's refitScales /
 * hessianError as of this writing, which refit.ts's blocked versions reproduce), kept verbatim so that tests (and
 * bench/scale-micro.ts) can check the fast versions are BIT-IDENTICAL and time
 * them against these. Not exported from the package.
 */
import { NotPositiveDefiniteError } from './linalg.js';
import type { GptqInput, GptqOptions, GptqResult } from './gptq.js';
import { DEFAULT_CLIP_GRID, dequantize, groupError, quantizeValue, rangeParams, type GroupParams } from './rtn.js';
import { roundF16 } from '@bitexit/format';

export function refCholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= l[rj + k]! * l[rj + k]!;
    if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefiniteError(j);
    const ljj = Math.sqrt(d);
    l[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= l[ri + k]! * l[rj + k]!;
      l[ri + j] = s / ljj;
    }
  }
  return l;
}

export function refInvertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    inv[ri + i] = 1 / l[ri + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[ri + k]! * inv[k * n + j]!;
      inv[ri + j] = -s / l[ri + i]!;
    }
  }
  return inv;
}

export function refUpperCholeskyOfInverse(a: Float64Array, n: number): Float64Array {
  const li = refInvertLower(refCholesky(a, n), n);
  const ainv = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const v = li[rk + i]!;
      if (v === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) ainv[ri + j] += v * li[rk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) ainv[j * n + i] = ainv[i * n + j]!;
  const m = refCholesky(ainv, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) u[j * n + i] = m[i * n + j]!;
  return u;
}

export function refGptqQuantize(input: GptqInput, options: GptqOptions = {}): GptqResult {
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
      u = refUpperCholeskyOfInverse(a, n);
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

export function refFitGroup(w: ArrayLike<number>, base: number, c0: number, c1: number, h: ArrayLike<number>, bits: number, grid: readonly number[] = DEFAULT_CLIP_GRID) {
  const maxq = (1 << bits) - 1;
  let lo = 0;
  let hi = 0;
  for (let k = c0; k < c1; k++) {
    const x = w[base + k]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  let best = rangeParams(lo, hi, maxq);
  let bestErr = groupError(w, base, c0, c1, h, best.scale, best.zero, maxq);
  if (grid.length <= 1 || bestErr === 0) return { ...best, err: bestErr };
  for (const a of grid) {
    for (const b of grid) {
      if (a === 0 && b === 0) continue;
      const p = rangeParams(lo * (1 - a), hi * (1 - b), maxq);
      const e = groupError(w, base, c0, c1, h, p.scale, p.zero, maxq);
      if (e < bestErr) {
        bestErr = e;
        best = p;
      }
    }
  }
  return { ...best, err: bestErr };
}

/** matrix.ts's refitScales (verbatim). */
export function refRefitScales(
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
  const e = new Float64Array(cols);
  const he = new Float64Array(cols);
  const u = new Float64Array(cols);
  const hu = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) e[k] = w[r * cols + k]! - wq[r * cols + k]!;
    for (let i = 0; i < cols; i++) {
      let acc = 0;
      const hi = i * cols;
      for (let j = 0; j < cols; j++) acc += h[hi + j]! * e[j]!;
      he[i] = acc;
    }
    for (let sweep = 0; sweep < 2; sweep++) {
      for (let g = 0; g < groups; g++) {
        const c0 = g * groupSize;
        const c1 = Math.min(c0 + groupSize, cols);
        const pi = r * groups + g;
        const z = params.zeros[pi]!;
        let any = false;
        for (let k = c0; k < c1; k++) {
          u[k] = isOutlier[r * cols + k] ? 0 : codes[r * cols + k]! - z;
          if (u[k] !== 0) any = true;
        }
        if (!any) continue;
        // hu = H[:, c0:c1] u[c0:c1]; uHu = u·hu over the group; uHe = u·He over the group.
        hu.fill(0);
        for (let k = c0; k < c1; k++) {
          const uk = u[k]!;
          if (uk === 0) continue;
          for (let i = 0; i < cols; i++) hu[i] += h[i * cols + k]! * uk;
        }
        let uHu = 0;
        let uHe = 0;
        for (let k = c0; k < c1; k++) {
          uHu += u[k]! * hu[k]!;
          uHe += u[k]! * he[k]!;
        }
        if (!(uHu > 0)) continue;
        const delta = uHe / uHu;
        const s = scales[pi]! + delta;
        if (!(s > 0) || !Number.isFinite(s)) continue;
        scales[pi] = s;
        // e -= delta·u (group), He -= delta·Hu.
        for (let k = c0; k < c1; k++) e[k] -= delta * u[k]!;
        for (let i = 0; i < cols; i++) he[i] -= delta * hu[i]!;
      }
      if (groups === 1) break;
    }
  }
  return scales;
}

/** matrix.ts's hessianError (verbatim). */
export function refHessianError(w: Float32Array, wq: Float32Array, rows: number, cols: number, h: Float64Array): number {
  let total = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c]! - wq[r * cols + c]!;
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let s = 0;
      const hi = i * cols;
      for (let j = 0; j < cols; j++) s += h[hi + j]! * d[j]!;
      total += d[i]! * s;
    }
  }
  return total;
}
