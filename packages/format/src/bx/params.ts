/**
 * First- and second-order group parameters: what the file can hold.
 */
import { ModelFormatError } from '../errors.js';
import { roundF16 } from '../f16.js';
import { BX_DEFAULT_SCALE_BITS, BX_DEFAULT_SUPER_GROUP, type BxParamOptions, type BxRepresentableParams, type BxSecondOrderParams } from './types.js';

const fround = Math.fround;

/** The one normative product: w = fround(scale * (code - zero)) (SPEC.md §4). */
export function bxDequantValue(scale: number, code: number, zero: number): number {
  return fround(scale * (code - zero));
}

/**
 * A second-order scale: fround(d * code + m). d and m are f16 values and
 * code < 256, so d * code is exact in f32 and d * code + m is exact in f64
 * (all are multiples of 2^-24 below 2^25): one rounding, equal to an f32 FMA.
 */
export function secondOrderScale(d: number, code: number, m: number): number {
  return fround(d * code + m);
}

/**
 * The exact f32 values the file will hold for the first-order parameters
 * `scales` and `zeros` ([rows][nGroups], nGroups = widths.length):
 * - zeros are rounded to integers and clamped to [0, 2^width - 1];
 * - secondOrder off: scales rounded to f16;
 * - secondOrder on: per tile of superGroup.rows rows × superGroup.groups
 *   groups, m = f16(min), d = f16(max(0, (max - m) / (2^scaleBits - 1))),
 *   code = clamp(round((s - m) / d), 0, 2^scaleBits - 1), s' = fround(d * code + m).
 * Deterministic; encodeBx stores exactly these values when given
 * `secondOrder` as BxMatrix.secondOrderParams.
 */
export function representableGroupParams(
  scales: Float32Array,
  zeros: Float32Array,
  widths: ArrayLike<number>,
  rows: number,
  options: BxParamOptions,
): BxRepresentableParams {
  const name = 'representableGroupParams';
  const fail = (problem: string): never => {
    throw new ModelFormatError(name, problem);
  };
  const nGroups = widths.length;
  if (!Number.isSafeInteger(rows) || rows < 1) fail(`rows ${rows} must be a positive integer`);
  if (scales.length !== rows * nGroups) fail(`${scales.length} scales, expected rows*nGroups = ${rows * nGroups}`);
  if (zeros.length !== rows * nGroups) fail(`${zeros.length} zeros, expected rows*nGroups = ${rows * nGroups}`);
  const outZeros = new Float32Array(zeros.length);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < nGroups; g++) {
      const b = widths[g];
      if (b !== 2 && b !== 3 && b !== 4) fail(`column group ${g} has width ${b} (must be 2, 3 or 4)`);
      const i = r * nGroups + g;
      const z = zeros[i];
      if (!Number.isFinite(z)) fail(`zero at row ${r}, group ${g} is ${z}`);
      outZeros[i] = Math.min((1 << b) - 1, Math.max(0, Math.round(z)));
    }
  }
  const out = new Float32Array(scales.length);
  for (let i = 0; i < scales.length; i++) {
    if (!Number.isFinite(scales[i])) fail(`scale ${i} (row ${Math.floor(i / nGroups)}, group ${i % nGroups}) is ${scales[i]}`);
  }
  if (!options.secondOrder) {
    for (let i = 0; i < scales.length; i++) {
      const s = roundF16(scales[i]);
      if (!Number.isFinite(s)) fail(`scale ${scales[i]} (row ${Math.floor(i / nGroups)}, group ${i % nGroups}) overflows f16`);
      out[i] = s;
    }
    return { scales: out, zeros: outZeros };
  }
  const scaleBits = options.scaleBits ?? BX_DEFAULT_SCALE_BITS;
  if (!Number.isInteger(scaleBits) || scaleBits < 2 || scaleBits > 8) fail(`scale code bits ${scaleBits} must be an integer in 2..8`);
  const sg = options.superGroup ?? BX_DEFAULT_SUPER_GROUP;
  if (!Number.isSafeInteger(sg.rows) || sg.rows < 1 || !Number.isSafeInteger(sg.groups) || sg.groups < 1) {
    fail(`super-group ${sg.rows}x${sg.groups} must be positive integers`);
  }
  const qmax = (1 << scaleBits) - 1;
  const tileRows = Math.ceil(rows / sg.rows);
  const tileCols = Math.ceil(nGroups / sg.groups);
  const so: BxSecondOrderParams = {
    d: new Float32Array(tileRows * tileCols),
    m: new Float32Array(tileRows * tileCols),
    codes: new Uint8Array(rows * nGroups),
  };
  for (let tr = 0; tr < tileRows; tr++) {
    const r0 = tr * sg.rows;
    const r1 = Math.min(rows, r0 + sg.rows);
    for (let tc = 0; tc < tileCols; tc++) {
      const g0 = tc * sg.groups;
      const g1 = Math.min(nGroups, g0 + sg.groups);
      let lo = Infinity;
      let hi = -Infinity;
      for (let r = r0; r < r1; r++) {
        for (let g = g0; g < g1; g++) {
          const s = scales[r * nGroups + g];
          if (s < lo) lo = s;
          if (s > hi) hi = s;
        }
      }
      const m = roundF16(lo);
      if (!Number.isFinite(m)) fail(`scale ${lo} overflows the f16 second-order minimum`);
      const d = roundF16(Math.max(0, (hi - m) / qmax));
      if (!Number.isFinite(d)) fail(`scale range ${lo}..${hi} overflows the f16 second-order step`);
      const t = tr * tileCols + tc;
      so.d[t] = d;
      so.m[t] = m;
      for (let r = r0; r < r1; r++) {
        for (let g = g0; g < g1; g++) {
          const i = r * nGroups + g;
          const code = d > 0 ? Math.min(qmax, Math.max(0, Math.round((scales[i] - m) / d))) : 0;
          so.codes[i] = code;
          out[i] = secondOrderScale(d, code, m);
        }
      }
    }
  }
  return { scales: out, zeros: outZeros, secondOrder: so };
}
