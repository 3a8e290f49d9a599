/**
 * The checked-in bx test vectors (packages/format/test-vectors/bx): their
 * definitions and their JSON form. `scripts/gen-bx-vectors.ts` writes them;
 * `vectors.test.ts` checks the files against the codec bit for bit.
 */
import { randomBxMatrix, type RandomBxOptions } from './testing.js';
import { BX_VERSION, type BxMatrix } from './types.js';
import { decodeBx, dequantizeBx, parseBx } from './codec.js';

export interface BxVectorSpec {
  name: string;
  description: string;
  options: RandomBxOptions;
}

export const BX_VECTOR_SPECS: readonly BxVectorSpec[] = [
  { name: 'w2', description: '2-bit groups only, G=64, f16 scales', options: { rows: 3, cols: 64, widths: [2], seed: 11 } },
  { name: 'w3', description: '3-bit groups only (2-bit plane + 1-bit plane), G=32', options: { rows: 2, cols: 64, groupSize: 32, widths: [3], seed: 12 } },
  { name: 'w4', description: '4-bit groups only, G=128', options: { rows: 2, cols: 128, groupSize: 128, widths: [4], seed: 13 } },
  { name: 'mixed-partial', description: 'widths 2,3,4,2 at G=64 with a partial last group (200 = 3*64 + 8 columns)', options: { rows: 4, cols: 200, widths: [2, 3, 4, 2], seed: 14 } },
  { name: 'outliers', description: 'widths 2,3,4 at G=32 with 6 f16 outliers', options: { rows: 4, cols: 96, groupSize: 32, widths: [2, 3, 4], outliers: 6, seed: 15 } },
  {
    name: 'second-order',
    description: 'second-order scales: 6-bit codes, 4x2 tiles (rows x groups), widths 2,4,3,2,2 at G=32',
    options: { rows: 8, cols: 160, groupSize: 32, widths: [2, 4, 3, 2, 2], secondOrder: true, scaleBits: 6, superGroup: { rows: 4, groups: 2 }, seed: 16 },
  },
  {
    name: 'second-order-off',
    description: 'the same matrix shape as second-order with f16 scales (the ablation)',
    options: { rows: 8, cols: 160, groupSize: 32, widths: [2, 4, 3, 2, 2], seed: 16 },
  },
  {
    name: 'partial-3bit',
    description: 'a partial last group of width 3 (40 = 32 + 8 columns), 8-bit second-order codes (default 16x1 tiles), 2 outliers',
    options: { rows: 3, cols: 40, groupSize: 32, widths: [2, 3], secondOrder: true, outliers: 2, seed: 17 },
  },
  {
    name: 'partial-4bit',
    description: 'a partial last group of width 4 (100 = 64 + 36 columns: 4.5 words, stored as 5), f16 scales',
    options: { rows: 3, cols: 100, widths: [2, 4], seed: 18 },
  },
];

const u32 = new Uint32Array(1);
const f32 = new Float32Array(u32.buffer);
/** f32 bits as 8 lowercase hex digits. */
export function f32Hex(x: number): string {
  f32[0] = x;
  return u32[0].toString(16).padStart(8, '0');
}
export function hexF32(h: string): number {
  u32[0] = parseInt(h, 16);
  return f32[0];
}

/** JSON form of a vector: the encoder input and the expected dequantized values (f32 bits). */
export interface BxVectorJson {
  name: string;
  description: string;
  formatVersion: number;
  byteLength: number;
  bitsPerWeight: number;
  matrix: {
    rows: number;
    cols: number;
    groupSize: number;
    widths: number[];
    codes: number[];
    scalesF32Hex: string[];
    zeros: number[];
    outliers: { rows: number[]; cols: number[]; valuesF32Hex: string[] };
    secondOrder: boolean;
    superGroup?: { rows: number; groups: number };
    scaleBits?: number;
    /** Outlier slots per row (0: none). */
    outlierSlots: number;
    secondOrderParams?: { dF32Hex: string[]; mF32Hex: string[]; codes: number[] };
  };
  /** rows*cols dequantized values, row-major, as f32 bits. */
  dequantizedF32Hex: string[];
}

export function vectorMatrix(spec: BxVectorSpec): BxMatrix {
  return randomBxMatrix(spec.options);
}

/** The JSON for a blob (the matrix as decodeBx reads it back: canonical). */
export function vectorJson(spec: BxVectorSpec, blob: Uint8Array): BxVectorJson {
  const v = parseBx(blob, spec.name);
  const m = decodeBx(v);
  const hex = (a: Float32Array) => Array.from(a, f32Hex);
  return {
    name: spec.name,
    description: spec.description,
    formatVersion: BX_VERSION,
    byteLength: blob.byteLength,
    bitsPerWeight: v.layout.bitsPerWeight,
    matrix: {
      rows: m.rows,
      cols: m.cols,
      groupSize: m.groupSize,
      widths: Array.from(m.widths),
      codes: Array.from(m.codes),
      scalesF32Hex: hex(m.scales),
      zeros: Array.from(m.zeros),
      outliers: { rows: Array.from(m.outliers.rows), cols: Array.from(m.outliers.cols), valuesF32Hex: hex(m.outliers.values) },
      secondOrder: m.secondOrder,
      ...(m.secondOrder ? { superGroup: m.superGroup, scaleBits: m.scaleBits } : {}),
      outlierSlots: m.outlierSlots ?? 0,
      ...(m.secondOrderParams
        ? { secondOrderParams: { dF32Hex: hex(m.secondOrderParams.d), mF32Hex: hex(m.secondOrderParams.m), codes: Array.from(m.secondOrderParams.codes) } }
        : {}),
    },
    dequantizedF32Hex: hex(dequantizeBx(v)),
  };
}

/** Rebuilds the BxMatrix a vector's JSON describes. */
export function matrixFromJson(j: BxVectorJson): BxMatrix {
  const x = j.matrix;
  const fromHex = (a: string[]) => Float32Array.from(a, hexF32);
  const m: BxMatrix = {
    rows: x.rows,
    cols: x.cols,
    groupSize: x.groupSize,
    widths: Uint8Array.from(x.widths),
    codes: Uint8Array.from(x.codes),
    scales: fromHex(x.scalesF32Hex),
    zeros: Float32Array.from(x.zeros),
    outliers: { rows: Uint32Array.from(x.outliers.rows), cols: Uint32Array.from(x.outliers.cols), values: fromHex(x.outliers.valuesF32Hex) },
    secondOrder: x.secondOrder,
  };
  if (x.outlierSlots > 0) m.outlierSlots = x.outlierSlots;
  if (x.superGroup) m.superGroup = x.superGroup;
  if (x.scaleBits !== undefined) m.scaleBits = x.scaleBits;
  if (x.secondOrderParams) {
    m.secondOrderParams = { d: fromHex(x.secondOrderParams.dF32Hex), m: fromHex(x.secondOrderParams.mF32Hex), codes: Uint8Array.from(x.secondOrderParams.codes) };
  }
  return m;
}
