/**
 * Asymmetric group-wise quantization of a row-major weight matrix [rows, cols]
 * along its input dimension: column group g covers columns
 * [g·G, min((g+1)·G, cols)); every (row, group) has its own scale s and
 * integer zero z, and a weight w is stored as the code
 * q = clamp(round(w / s) + z, 0, 2^b − 1), read back as s · (q − z).
 */

export type Width = 2 | 3 | 4;
export const WIDTHS: readonly Width[] = [2, 3, 4];

/** Per (row, column group) parameters, row-major [rows, groups]. */
export interface GroupParams {
  rows: number;
  groups: number;
  scales: Float32Array;
  zeros: Uint8Array;
}

export function groupCount(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}

export function newGroupParams(rows: number, groups: number): GroupParams {
  return { rows, groups, scales: new Float32Array(rows * groups), zeros: new Uint8Array(rows * groups) };
}

/** The code of `w` under (scale, zero) at `maxq` = 2^b − 1. */
export function quantizeValue(w: number, scale: number, zero: number, maxq: number): number {
  let q = Math.round(w / scale) + zero;
  if (q < 0) q = 0;
  else if (q > maxq) q = maxq;
  else if (q !== q) q = zero; // NaN guard (scale 0 never happens, but never emit NaN codes)
  return q;
}

/**
 * Scale and zero covering [lo, hi] (lo ≤ 0 ≤ hi, as GPTQ's quantizer forces
 * so that 0 is exactly representable). A degenerate range gets scale 1, zero 0.
 */
export function rangeParams(lo: number, hi: number, maxq: number): { scale: number; zero: number } {
  if (lo > 0) lo = 0;
  if (hi < 0) hi = 0;
  const span = hi - lo;
  if (!(span > 1e-30)) return { scale: 1, zero: 0 };
  const scale = span / maxq;
  let zero = Math.round(-lo / scale) + 0; // + 0: never -0
  if (zero < 0) zero = 0;
  else if (zero > maxq) zero = maxq;
  return { scale, zero };
}

/** Default clipping grid: how much of each end of the range (independently) may be cut off. */
export const DEFAULT_CLIP_GRID: readonly number[] = [0, 0.03, 0.06, 0.1, 0.14, 0.18, 0.23, 0.28, 0.34, 0.4, 0.5, 0.6];

export interface FitOptions {
  /** Shrink factors tried for each end of the range (independently); [0] disables the search. */
  clipGrid?: readonly number[];
}

/**
 * Weighted squared error Σ_k h_k (w_k − ŵ_k)² of columns [c0, c1) of one row
 * (starting at `base` in `w`) under (scale, zero).
 */
export function groupError(
  w: ArrayLike<number>,
  base: number,
  c0: number,
  c1: number,
  h: ArrayLike<number>,
  scale: number,
  zero: number,
  maxq: number,
): number {
  let e = 0;
  for (let k = c0; k < c1; k++) {
    const x = w[base + k]!;
    const d = x - scale * (quantizeValue(x, scale, zero, maxq) - zero);
    e += h[k]! * d * d;
  }
  return e;
}

/**
 * Best (scale, zero) of one (row, group) by a Hessian-weighted clipping
 * search: the range's min and max ends shrink independently over `grid`
 * and the pair with the smallest Σ_k H_kk·err_k² wins (the first one in grid
 * order on ties).
 */
export function fitGroup(
  w: ArrayLike<number>,
  base: number,
  c0: number,
  c1: number,
  h: ArrayLike<number>,
  bits: number,
  grid: readonly number[] = DEFAULT_CLIP_GRID,
): { scale: number; zero: number; err: number } {
  const f = fitGroupHinted(w, base, c0, c1, h, bits, grid, -1);
  return { scale: f.scale, zero: f.zero, err: f.err };
}

/** Scratch for fitGroupHinted: a group's weights sorted by value, their H_kk, the order. */
let sortX = new Float64Array(128);
let sortH = new Float64Array(128);
let sortI = new Int32Array(128);
let rawX = new Float64Array(128);
let absX = new Float64Array(128);
let absH = new Float64Array(128);

/**
 * fitGroup, trying candidate `hint` (an index a·|grid| + b, e.g. the winner of
 * a similar group) right after the full range so that the error bound is tight
 * early and the other candidates stop sooner. The result is the same whatever
 * the hint: the smallest error, ties to the lowest index, as the exhaustive
 * in-order search gives. Returns the winner's index (0 = full range).
 */
export function fitGroupHinted(
  w: ArrayLike<number>,
  base: number,
  c0: number,
  c1: number,
  h: ArrayLike<number>,
  bits: number,
  grid: readonly number[],
  hint: number,
): { scale: number; zero: number; err: number; index: number } {
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
  let bestIdx = 0;
  const ng = grid.length;
  if (ng <= 1 || bestErr === 0) return { ...best, err: bestErr, index: 0 };
  // Early termination needs every weight h_k ≥ 0 (a Hessian diagonal always is).
  let prune = true;
  for (let k = c0; k < c1; k++) if (h[k]! < 0) prune = false;
  const first = hint > 0 && hint < ng * ng ? hint : -1;
  // The group's weights by value (for the clipped-tail bound below).
  const m = c1 - c0;
  if (prune) {
    if (sortX.length < m) {
      sortX = new Float64Array(m);
      sortH = new Float64Array(m);
      sortI = new Int32Array(m);
      rawX = new Float64Array(m);
      absX = new Float64Array(m);
      absH = new Float64Array(m);
    }
    const raw = rawX;
    for (let t = 0; t < m; t++) {
      raw[t] = w[base + c0 + t]!;
      sortI[t] = t;
    }
    const order = sortI.subarray(0, m).sort((p, q) => raw[p]! - raw[q]!);
    for (let t = 0; t < m; t++) {
      sortX[t] = raw[order[t]!]!;
      sortH[t] = h[c0 + order[t]!]!;
    }
    // By |x| descending: merge the two ends of the sorted order.
    let i0 = 0;
    let i1 = m - 1;
    for (let t = 0; t < m; t++) {
      const takeLow = Math.abs(sortX[i0]!) > Math.abs(sortX[i1]!);
      const j = takeLow ? i0++ : i1--;
      absX[t] = sortX[j]!;
      absH[t] = sortH[j]!;
    }
  }
  const tryOne = (idx: number) => {
    const a = grid[(idx / ng) | 0]!;
    const b = grid[idx % ng]!;
    if (a === 0 && b === 0) return; // the full range again
    const p = rangeParams(lo * (1 - a), hi * (1 - b), maxq);
    let e: number;
    if (!prune) e = groupError(w, base, c0, c1, h, p.scale, p.zero, maxq);
    else {
      // Lower bound from the clipped tails: a weight above the top level (below the bottom one)
      // gets code maxq (0) and exactly the error term the full sum gives it. Those terms alone,
      // summed in another order, are within 64·ε of their part of the full sum: a bound at
      // least (1 + 10⁻¹²) times the best error means a strictly larger error.
      const top = p.scale * (maxq - p.zero);
      const bottom = p.scale * (0 - p.zero);
      let lb = 0;
      for (let t = m - 1; t >= 0; t--) {
        const x = sortX[t]!;
        if (!(x > top)) break;
        const d = x - top;
        lb += sortH[t]! * d * d;
      }
      for (let t = 0; t < m; t++) {
        const x = sortX[t]!;
        if (!(x < bottom)) break;
        const d = x - bottom;
        lb += sortH[t]! * d * d;
      }
      // Then the same terms largest weights first (where most of the error is), the running
      // sum checked against the best error with the same margin: a hopeless candidate stops
      // after a few terms. A candidate that gets through is summed again in column order
      // (the error the search compares and returns is exactly the exhaustive search's).
      const cut = bestErr * (1 + 2e-12);
      if (lb > 0 && lb >= cut) return;
      let part = 0;
      for (let t = 0; t < m; t++) {
        const x = absX[t]!;
        const d = x - p.scale * (quantizeValue(x, p.scale, p.zero, maxq) - p.zero);
        part += absH[t]! * d * d;
        if (part >= cut) return;
      }
      e = groupError(w, base, c0, c1, h, p.scale, p.zero, maxq);
      if (e > bestErr || (idx > bestIdx && e === bestErr)) return;
    }
    if (e < bestErr || (e === bestErr && idx < bestIdx)) {
      bestErr = e;
      best = p;
      bestIdx = idx;
    }
  };
  if (first >= 0) tryOne(first);
  for (let idx = 1; idx < ng * ng; idx++) if (idx !== first) tryOne(idx);
  return { ...best, err: bestErr, index: bestIdx };
}

/**
 * Fits every (row, group) at the width its column group has. `hdiag` is the
 * Hessian diagonal (all ones for plain range-based fitting). Returns the
 * params and the weighted error per column group.
 */
export function fitMatrix(
  w: Float32Array,
  rows: number,
  cols: number,
  groupSize: number,
  widths: ArrayLike<number>,
  hdiag: ArrayLike<number>,
  options: FitOptions = {},
): GroupParams & { groupErrors: Float64Array } {
  const groups = groupCount(cols, groupSize);
  const p = newGroupParams(rows, groups);
  const groupErrors = new Float64Array(groups);
  const grid = options.clipGrid ?? DEFAULT_CLIP_GRID;
  // The previous row's winner of each group is tried first (rows of a matrix are alike); results do not depend on it.
  const hints = new Int32Array(groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * groupSize;
      const c1 = Math.min(c0 + groupSize, cols);
      const f = fitGroupHinted(w, r * cols, c0, c1, hdiag, widths[g]!, grid, hints[g]!);
      hints[g] = f.index;
      p.scales[r * groups + g] = f.scale;
      p.zeros[r * groups + g] = f.zero;
      groupErrors[g] += f.err;
    }
  }
  return { ...p, groupErrors };
}

/**
 * Hessian-weighted error of each column group at each candidate width
 * (clipping search included): errors[wi][g] for widths[wi]. This is the
 * allocator's input.
 */
export function widthErrorTable(
  w: Float32Array,
  rows: number,
  cols: number,
  groupSize: number,
  widths: readonly Width[],
  hdiag: ArrayLike<number>,
  options: FitOptions = {},
): Float64Array[] {
  const groups = groupCount(cols, groupSize);
  return widths.map((b) => fitMatrix(w, rows, cols, groupSize, new Uint8Array(groups).fill(b), hdiag, options).groupErrors);
}

/** Codes of every weight under fixed params (round-to-nearest). */
export function quantizeRtn(
  w: Float32Array,
  rows: number,
  cols: number,
  groupSize: number,
  widths: ArrayLike<number>,
  params: GroupParams,
): Uint8Array {
  const groups = params.groups;
  const codes = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = (c / groupSize) | 0;
      const i = r * groups + g;
      codes[r * cols + c] = quantizeValue(w[r * cols + c]!, params.scales[i]!, params.zeros[i]!, (1 << widths[g]!) - 1);
    }
  }
  return codes;
}

/** ŵ = s · (q − z) for every weight, then outliers written over their positions. */
export function dequantize(
  codes: Uint8Array,
  rows: number,
  cols: number,
  groupSize: number,
  params: GroupParams,
  outliers?: { rows: ArrayLike<number>; cols: ArrayLike<number>; values: ArrayLike<number> },
): Float32Array {
  const out = new Float32Array(rows * cols);
  const groups = params.groups;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * groups + ((c / groupSize) | 0);
      out[r * cols + c] = params.scales[i]! * (codes[r * cols + c]! - params.zeros[i]!);
    }
  }
  if (outliers) for (let j = 0; j < outliers.values.length; j++) out[outliers.rows[j]! * cols + outliers.cols[j]!] = outliers.values[j]!;
  return out;
}
