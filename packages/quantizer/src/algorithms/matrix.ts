/**
 * One matrix end to end: fit the group params (clipping search), map them to
 * what the file can hold, pick outliers, then quantize (GPTQ with a full
 * Hessian, else round-to-nearest).
 */
import { gptqQuantize, type GptqOptions } from './gptq.js';
import { selectOutliers } from './outliers.js';
import { DEFAULT_CLIP_GRID, dequantize, fitMatrix, groupCount, quantizeRtn, type GroupParams } from './rtn.js';
import { f16Round } from './f16.js';
import type { BxSecondOrderParams } from '@bitexit/format';

/** A quantized matrix in the quantizer's own layout (converted to the file's BxMatrix by the codec). */
export interface QuantizedMatrix {
  rows: number;
  cols: number;
  groupSize: number;
  /** Width of each column group (2, 3 or 4). */
  widths: Uint8Array;
  /** One code per weight, row-major (outlier positions hold 0). */
  codes: Uint8Array;
  /** Per (row, group), row-major [rows, groups]: the exact values the file holds. */
  scales: Float32Array;
  zeros: Uint8Array;
  outliers: { rows: Uint32Array; cols: Uint32Array; values: Float32Array };
  /** Second-order parameters of the scales, as the rounder produced them (opaque here; the codec encodes them). */
  secondOrder?: BxSecondOrderParams;
}

/** Maps ideal first-order params to those the file represents exactly (second-order quantization). */
export type ParamRounder = (params: GroupParams, widths: Uint8Array) => GroupParams & { secondOrder?: BxSecondOrderParams };

/** Scales as f16, zeros as they are: what a file without second-order params holds. */
export const f16ParamRounder: ParamRounder = (p) => ({
  rows: p.rows,
  groups: p.groups,
  scales: Float32Array.from(p.scales, (s) => (s > 0 ? Math.max(f16Round(s), 6e-8) : 1)),
  zeros: p.zeros,
});

export interface MatrixQuantOptions {
  groupSize: number;
  widths: Uint8Array;
  /** Full Hessian [cols, cols] (GPTQ), or null for round-to-nearest. */
  hessian: Float64Array | null;
  /** Hessian diagonal used for the clipping search and outlier scores (ones when uncalibrated). */
  hdiag: ArrayLike<number>;
  /** Clipping search (default true). */
  clip?: boolean;
  clipGrid?: readonly number[];
  rounder?: ParamRounder;
  /** Number of 16-bit outliers to keep (default 0). */
  outliers?: number;
  /** At most this many per row (default ⌈2·outliers/rows⌉; the file gives every row this many slots). */
  outliersPerRow?: number;
  /** Widths whose groups may hold outliers (default [2]). */
  outlierWidths?: readonly number[];
  gptq?: GptqOptions;
  /**
   * With a full Hessian: rounds of "refit the scales to the codes under the full
   * Hessian (coordinate descent per column group), map them to the file's values,
   * re-run GPTQ with them"; the round with the smallest full-Hessian error is kept.
   * Default 0 (off).
   */
  refit?: number;
}

export function quantizeMatrix(w: Float32Array, rows: number, cols: number, o: MatrixQuantOptions): QuantizedMatrix {
  const { groupSize, widths } = o;
  if (widths.length !== groupCount(cols, groupSize)) throw new RangeError(`widths has ${widths.length} entries, expected ${groupCount(cols, groupSize)}`);
  const fitted = fitMatrix(w, rows, cols, groupSize, widths, o.hdiag, { clipGrid: o.clip === false ? [0] : (o.clipGrid ?? DEFAULT_CLIP_GRID) });
  const params = (o.rounder ?? f16ParamRounder)({ rows, groups: fitted.groups, scales: fitted.scales, zeros: fitted.zeros }, widths);
  const sel = selectOutliers(w, rows, cols, groupSize, widths, params, o.hdiag, o.outliers ?? 0, { eligibleWidths: o.outlierWidths, perRowCap: o.outliersPerRow });
  let codes: Uint8Array;
  let outliers: QuantizedMatrix['outliers'];
  let finalParams: typeof params = params;
  if (o.hessian) {
    const r = gptqQuantize({ w, rows, cols, groupSize, widths, params, h: o.hessian, outlierMask: sel.mask }, o.gptq);
    codes = r.codes;
    outliers = r.outliers;
    const rounds = o.refit ?? 0;
    if (rounds > 0) {
      const deq = (c: Uint8Array, p: GroupParams, out: typeof outliers) => dequantize(c, rows, cols, groupSize, p, out);
      let bestErr = hessianError(w, deq(codes, params, outliers), rows, cols, o.hessian);
      let cur = { codes, outliers, params };
      for (let it = 0; it < rounds; it++) {
        const scales = refitScales(w, rows, cols, groupSize, cur.codes, cur.params, cur.outliers, o.hessian);
        const p2 = (o.rounder ?? f16ParamRounder)({ rows, groups: params.groups, scales, zeros: cur.params.zeros }, widths);
        const r2 = gptqQuantize({ w, rows, cols, groupSize, widths, params: p2, h: o.hessian, outlierMask: sel.mask }, o.gptq);
        const e = hessianError(w, deq(r2.codes, p2, r2.outliers), rows, cols, o.hessian);
        cur = { codes: r2.codes, outliers: r2.outliers, params: p2 };
        if (e < bestErr) {
          bestErr = e;
          codes = r2.codes;
          outliers = r2.outliers;
          finalParams = p2;
        }
      }
    }
  } else {
    codes = quantizeRtn(w, rows, cols, groupSize, widths, params);
    const oi: number[] = [];
    for (let i = 0; i < sel.mask.length; i++) if (sel.mask[i]) oi.push(i);
    for (const i of oi) codes[i] = 0;
    outliers = {
      rows: Uint32Array.from(oi, (i) => (i / cols) | 0),
      cols: Uint32Array.from(oi, (i) => i % cols),
      values: Float32Array.from(oi, (i) => f16Round(w[i]!)),
    };
  }
  return {
    rows,
    cols,
    groupSize,
    widths: Uint8Array.from(widths),
    codes,
    scales: finalParams.scales,
    zeros: finalParams.zeros,
    outliers,
    secondOrder: finalParams.secondOrder,
  };
}

/**
 * Scales that minimise Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r) for fixed codes and zeros
 * (ŵ = s_g·(q − z_g), outliers fixed): one pass of exact coordinate descent
 * over the column groups of each row (O(cols²) per row, like GPTQ).
 * A scale that would not stay positive is left unchanged.
 */
export function refitScales(
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

export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  return dequantize(q.codes, q.rows, q.cols, q.groupSize, { rows: q.rows, groups: q.widths.length, scales: q.scales, zeros: q.zeros }, q.outliers);
}

/** Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r): the layer-output error the quantization adds (full H). */
export function hessianError(w: Float32Array, wq: Float32Array, rows: number, cols: number, h: Float64Array): number {
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
