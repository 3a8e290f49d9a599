/**
 * Deterministic random bx matrices for tests, test vectors and benchmarks.
 */
import { roundF16 } from '../f16.js';
import { representableGroupParams } from './params.js';
import type { BxMatrix, BxSuperGroup, BxWidth } from './types.js';

/** mulberry32: small, fast, seedable. */
export function bxRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomBxOptions {
  rows: number;
  cols: number;
  groupSize?: number;
  /** Width of every group (cycled when shorter than the group count), or drawn at random from this set when `randomWidths`. */
  widths?: readonly BxWidth[];
  randomWidths?: boolean;
  secondOrder?: boolean;
  superGroup?: BxSuperGroup;
  scaleBits?: number;
  /** Number of outliers (distinct random positions). */
  outliers?: number;
  seed?: number;
}

/** A random valid BxMatrix (scales and zeros already representable). */
export function randomBxMatrix(o: RandomBxOptions): BxMatrix {
  const rnd = bxRng(o.seed ?? 1);
  const G = o.groupSize ?? 64;
  const nGroups = Math.ceil(o.cols / G);
  const set = o.widths ?? [2, 3, 4];
  const widths = new Uint8Array(nGroups);
  const random = o.randomWidths ?? o.widths === undefined;
  for (let g = 0; g < nGroups; g++) widths[g] = random ? set[Math.floor(rnd() * set.length)] : set[g % set.length];
  const codes = new Uint8Array(o.rows * o.cols);
  for (let r = 0; r < o.rows; r++) {
    for (let c = 0; c < o.cols; c++) codes[r * o.cols + c] = Math.floor(rnd() * (1 << widths[Math.floor(c / G)]));
  }
  const rawScales = new Float32Array(o.rows * nGroups);
  const rawZeros = new Float32Array(o.rows * nGroups);
  for (let i = 0; i < rawScales.length; i++) {
    rawScales[i] = 0.002 + rnd() * 0.05;
    rawZeros[i] = rnd() * ((1 << widths[i % nGroups]) - 1);
  }
  const secondOrder = o.secondOrder ?? false;
  const p = representableGroupParams(rawScales, rawZeros, widths, o.rows, { secondOrder, superGroup: o.superGroup, scaleBits: o.scaleBits });
  const nOut = Math.min(o.outliers ?? 0, o.rows * o.cols);
  const taken = new Set<number>();
  const rows: number[] = [];
  const cols: number[] = [];
  const values: number[] = [];
  while (taken.size < nOut) {
    const i = Math.floor(rnd() * o.rows * o.cols);
    if (taken.has(i)) continue;
    taken.add(i);
    rows.push(Math.floor(i / o.cols));
    cols.push(i % o.cols);
    values.push(roundF16((rnd() < 0.5 ? -1 : 1) * (0.5 + rnd() * 2)));
  }
  const m: BxMatrix = {
    rows: o.rows,
    cols: o.cols,
    groupSize: G,
    widths,
    codes,
    scales: p.scales,
    zeros: p.zeros,
    outliers: { rows: Uint32Array.from(rows), cols: Uint32Array.from(cols), values: Float32Array.from(values) },
    secondOrder,
  };
  if (secondOrder) {
    m.superGroup = o.superGroup;
    m.scaleBits = o.scaleBits;
    m.secondOrderParams = p.secondOrder;
  }
  return m;
}

/** Straightforward reference: dequantized values of a BxMatrix (no blob involved). */
export function dequantizeBxMatrix(m: BxMatrix): Float32Array {
  const nGroups = m.widths.length;
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      const i = r * nGroups + Math.floor(c / m.groupSize);
      out[r * m.cols + c] = Math.fround(m.scales[i] * (m.codes[r * m.cols + c] - m.zeros[i]));
    }
  }
  for (let k = 0; k < m.outliers.rows.length; k++) out[m.outliers.rows[k] * m.cols + m.outliers.cols[k]] = m.outliers.values[k];
  return out;
}
