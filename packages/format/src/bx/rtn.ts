/**
 * A plain round-to-nearest (min/max, asymmetric) bx quantizer: the reference
 * used by tests, the conformance suite and quick conversions. The real
 * quantizer (GPTQ, clipping search, bit allocation) is @bitexit/quantizer.
 */
import { ModelFormatError } from '../errors.js';
import { representableGroupParams } from './params.js';
import { BX_DEFAULT_GROUP_SIZE, type BxMatrix, type BxSuperGroup, type BxWidth } from './types.js';

export interface BxRtnOptions {
  groupSize?: number;
  /** Width of every group, or per-group widths (cycled when shorter). Default 4. */
  widths?: BxWidth | readonly BxWidth[];
  secondOrder?: boolean;
  superGroup?: BxSuperGroup;
  scaleBits?: number;
}

/** Quantizes row-major values [rows, cols] to a BxMatrix by round-to-nearest over each group's min..max. */
export function quantizeBxRtn(values: ArrayLike<number>, rows: number, cols: number, options: BxRtnOptions = {}): BxMatrix {
  const G = options.groupSize ?? BX_DEFAULT_GROUP_SIZE;
  if (values.length !== rows * cols) throw new ModelFormatError('quantizeBxRtn', `${values.length} values for [${rows}, ${cols}]`);
  const nGroups = Math.ceil(cols / G);
  const ws = options.widths ?? 4;
  const list = typeof ws === 'number' ? [ws] : ws;
  const widths = new Uint8Array(nGroups);
  for (let g = 0; g < nGroups; g++) widths[g] = list[g % list.length];
  const rawS = new Float32Array(rows * nGroups);
  const rawZ = new Float32Array(rows * nGroups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < nGroups; g++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let c = g * G; c < Math.min(cols, (g + 1) * G); c++) {
        const v = values[r * cols + c];
        if (!Number.isFinite(v)) throw new ModelFormatError('quantizeBxRtn', `value ${v} at row ${r}, col ${c} is not finite`);
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      lo = Math.min(lo, 0);
      hi = Math.max(hi, 0);
      const qmax = (1 << widths[g]) - 1;
      const s = hi > lo ? (hi - lo) / qmax : 1;
      rawS[r * nGroups + g] = s;
      rawZ[r * nGroups + g] = -lo / s;
    }
  }
  const secondOrder = options.secondOrder ?? false;
  const p = representableGroupParams(rawS, rawZ, widths, rows, { secondOrder, superGroup: options.superGroup, scaleBits: options.scaleBits });
  const codes = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = Math.floor(c / G);
      const i = r * nGroups + g;
      const s = p.scales[i];
      const q = s !== 0 ? Math.round(values[r * cols + c] / s + p.zeros[i]) : p.zeros[i];
      codes[r * cols + c] = Math.min((1 << widths[g]) - 1, Math.max(0, q));
    }
  }
  const m: BxMatrix = {
    rows,
    cols,
    groupSize: G,
    widths,
    codes,
    scales: p.scales,
    zeros: p.zeros,
    outliers: { rows: new Uint32Array(0), cols: new Uint32Array(0), values: new Float32Array(0) },
    secondOrder,
  };
  if (secondOrder) {
    if (options.superGroup) m.superGroup = options.superGroup;
    if (options.scaleBits !== undefined) m.scaleBits = options.scaleBits;
    m.secondOrderParams = p.secondOrder;
  }
  return m;
}
