/**
 * Sparse 16-bit outliers: the weights with the largest Hessian-weighted
 * round-to-nearest error H_kk·(w − ŵ)², picked inside the eligible column
 * groups (by default only 2-bit ones, "exclusive" as in Li et al.), at most
 * `perRowCap` per row so every row's sparse work stays balanced.
 */
import { roundF16 } from '@bitexit/format';
import { quantizeValue, type GroupParams } from './rtn.js';

export interface OutlierSelection {
  /** Flat indices r·cols + c marked 1. */
  mask: Uint8Array;
  count: number;
  /** Σ of the scores of the chosen weights (the error they remove). */
  removed: number;
}

export function selectOutliers(
  w: Float32Array,
  rows: number,
  cols: number,
  groupSize: number,
  widths: ArrayLike<number>,
  params: GroupParams,
  hdiag: ArrayLike<number>,
  count: number,
  options: { eligibleWidths?: readonly number[]; perRowCap?: number } = {},
): OutlierSelection {
  const mask = new Uint8Array(rows * cols);
  if (count <= 0) return { mask, count: 0, removed: 0 };
  const eligible = new Set(options.eligibleWidths ?? [2]);
  const cap = options.perRowCap ?? Math.max(1, Math.ceil((2 * count) / rows));
  const idx: number[] = [];
  const score = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = (c / groupSize) | 0;
      if (!eligible.has(widths[g]!)) continue;
      const pi = r * params.groups + g;
      const s = params.scales[pi]!;
      const z = params.zeros[pi]!;
      const x = w[r * cols + c]!;
      if (roundF16(x) === 0) continue; // a zero weight needs no outlier (and the file stores none)
      const d = x - s * (quantizeValue(x, s, z, (1 << widths[g]!) - 1) - z);
      const v = hdiag[c]! * d * d;
      if (v > 0) {
        score[r * cols + c] = v;
        idx.push(r * cols + c);
      }
    }
  }
  idx.sort((a, b) => score[b]! - score[a]! || a - b);
  const perRow = new Uint32Array(rows);
  let n = 0;
  let removed = 0;
  for (const i of idx) {
    if (n >= count) break;
    const r = (i / cols) | 0;
    if (perRow[r]! >= cap) continue;
    perRow[r]++;
    mask[i] = 1;
    removed += score[i]!;
    n++;
  }
  return { mask, count: n, removed };
}
