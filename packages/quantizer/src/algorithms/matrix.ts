/**
 * One matrix end to end: fit the group params (clipping search), map them to
 * what the file can hold, pick outliers, then quantize (GPTQ with a full
 * Hessian, else round-to-nearest).
 */
import { gptqQuantize, type GptqOptions } from './gptq.js';
import { selectOutliers } from './outliers.js';
import { DEFAULT_CLIP_GRID, dequantize, fitMatrix, groupCount, quantizeRtn, type GroupParams } from './rtn.js';
import { hessianErrorBlocked as hessianError, refitScalesBlocked as refitScales } from './refit.js';

// The row-blocked implementations (src/algorithms/refit.ts), under the names this module always exported.
export { hessianError, refitScales };
import { roundF16, type BxSecondOrderParams } from '@bitexit/format';

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
  scales: Float32Array.from(p.scales, (s) => (s > 0 ? Math.max(roundF16(s), 6e-8) : 1)),
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
      values: Float32Array.from(oi, (i) => roundF16(w[i]!)),
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

export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  return dequantize(q.codes, q.rows, q.cols, q.groupSize, { rows: q.rows, groups: q.widths.length, scales: q.scales, zeros: q.zeros }, q.outliers);
}
