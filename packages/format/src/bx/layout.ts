/**
 * Size formulas of the bx format (SPEC.md §3) and the 28-byte header.
 */
import { ModelFormatError } from '../errors.js';
import {
  BX_DEFAULT_SCALE_BITS,
  BX_DEFAULT_SUPER_GROUP,
  BX_GROUP_SIZES,
  BX_HEADER_BYTES,
  BX_MAGIC,
  BX_MAX_SUPER,
  BX_VERSION,
  type BxLayout,
  type BxLayoutParams,
} from './types.js';

/** Largest blob v1 can describe (byteLength is a u32). */
export const BX_MAX_BYTES = 0xfffffff0;
/** Largest row or column count. */
export const BX_MAX_DIM = 0x7fffffff;
/** Outlier column indices are u16. */
export const BX_MAX_OUTLIER_COLS = 65536;

/** Header field byte offsets (SPEC.md §2). */
export const BX_HEADER = {
  magic: 0,
  version: 4,
  groupSize: 6,
  rows: 8,
  cols: 12,
  flags: 16,
  scaleBits: 17,
  superRows: 18,
  superGroups: 19,
  outlierSlots: 20,
  byteLength: 24,
} as const;

/** Size in bytes of each header field (for tools and fuzzers). */
export const BX_HEADER_FIELD_BYTES: Readonly<Record<keyof typeof BX_HEADER, 1 | 2 | 4>> = {
  magic: 4,
  version: 2,
  groupSize: 2,
  rows: 4,
  cols: 4,
  flags: 1,
  scaleBits: 1,
  superRows: 1,
  superGroups: 1,
  outlierSlots: 4,
  byteLength: 4,
};

export const BX_FLAG_SECOND_ORDER = 1;

export function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * The layout of a blob with these parameters. Throws ModelFormatError (named
 * `name`) when the parameters are outside format v1.
 */
export function bxLayout(p: BxLayoutParams, name = 'bx matrix'): BxLayout {
  const fail = (problem: string): never => {
    throw new ModelFormatError(name, problem);
  };
  const { rows, cols, groupSize, widths, secondOrder } = p;
  if (!Number.isSafeInteger(rows) || rows < 1 || rows > BX_MAX_DIM) fail(`rows ${rows} must be an integer in 1..${BX_MAX_DIM}`);
  if (!Number.isSafeInteger(cols) || cols < 1 || cols > BX_MAX_DIM) fail(`cols ${cols} must be an integer in 1..${BX_MAX_DIM}`);
  if (!BX_GROUP_SIZES.includes(groupSize)) fail(`group size ${groupSize} must be one of ${BX_GROUP_SIZES.join(', ')}`);
  const nGroups = Math.ceil(cols / groupSize);
  if (!widths || widths.length !== nGroups) fail(`width map has ${widths?.length} entries, ${cols} columns in groups of ${groupSize} need ${nGroups}`);
  let count2 = 0;
  let count3 = 0;
  let count4 = 0;
  let sumWidths = 0;
  for (let g = 0; g < nGroups; g++) {
    const b = widths[g];
    if (b === 2) count2++;
    else if (b === 3) count3++;
    else if (b === 4) count4++;
    else fail(`column group ${g} has width ${b} (must be 2, 3 or 4)`);
    sumWidths += b;
  }
  let scaleBits = 0;
  let superRows = 0;
  let superGroups = 0;
  if (secondOrder) {
    scaleBits = p.scaleBits ?? BX_DEFAULT_SCALE_BITS;
    if (!Number.isInteger(scaleBits) || scaleBits < 2 || scaleBits > 8) fail(`scale code bits ${scaleBits} must be an integer in 2..8`);
    const sg = p.superGroup ?? BX_DEFAULT_SUPER_GROUP;
    superRows = sg.rows;
    superGroups = sg.groups;
    if (!Number.isInteger(superRows) || superRows < 1 || superRows > BX_MAX_SUPER) fail(`super-group rows ${superRows} must be an integer in 1..${BX_MAX_SUPER}`);
    if (!Number.isInteger(superGroups) || superGroups < 1 || superGroups > BX_MAX_SUPER) fail(`super-group groups ${superGroups} must be an integer in 1..${BX_MAX_SUPER}`);
  } else if (secondOrder !== false) {
    fail(`secondOrder must be a boolean`);
  }
  const outlierSlots = p.outlierSlots;
  if (!Number.isSafeInteger(outlierSlots) || outlierSlots < 0) fail(`outlier slots ${outlierSlots} must be a non-negative integer`);
  if (outlierSlots > cols) fail(`${outlierSlots} outlier slots per row exceed the ${cols} columns`);
  if (outlierSlots > 0 && cols > BX_MAX_OUTLIER_COLS) fail(`outliers need cols <= ${BX_MAX_OUTLIER_COLS} (u16 column index), got ${cols}`);

  const scaleFieldBits = secondOrder ? scaleBits : 16;
  const G = groupSize;
  const lastGroupCols = cols - (nGroups - 1) * G;
  const lastWidth = widths[nGroups - 1];
  // u32 words per row in each plane: full slots, the last group at its true length (rounded up to a word).
  const words = (count: number, bits: number, lastIn: boolean) =>
    lastIn ? (count - 1) * ((G * bits) / 32) + Math.ceil((lastGroupCols * bits) / 32) : count * ((G * bits) / 32);
  const p4RowWords = words(count4, 4, lastWidth === 4);
  const p2RowWords = words(count2 + count3, 2, lastWidth !== 4);
  const p1RowWords = words(count3, 1, lastWidth === 3);
  const widthMapOffset = BX_HEADER_BYTES;
  const p4Offset = align(widthMapOffset + Math.ceil(nGroups / 4), 16);
  const p2Offset = align(p4Offset + 4 * rows * p4RowWords, 16);
  const p1Offset = align(p2Offset + 4 * rows * p2RowWords, 16);
  const metaOffset = p1Offset + 4 * rows * p1RowWords;
  const metaBits = nGroups * scaleFieldBits + sumWidths;
  const metaWords = Math.ceil((rows * metaBits) / 32);
  const s2Offset = metaOffset + 4 * metaWords;
  const tileRows = secondOrder ? Math.ceil(rows / superRows) : 0;
  const tileCols = secondOrder ? Math.ceil(nGroups / superGroups) : 0;
  const outlierOffset = s2Offset + 4 * tileRows * tileCols;
  const byteLength = align(outlierOffset + 4 * rows * outlierSlots, 16);
  if (!Number.isSafeInteger(byteLength) || byteLength > BX_MAX_BYTES) fail(`blob of ${byteLength} bytes exceeds the ${BX_MAX_BYTES}-byte limit of format v1`);
  return {
    rows,
    cols,
    groupSize,
    nGroups,
    count2,
    count3,
    count4,
    lastGroupCols,
    secondOrder,
    scaleFieldBits,
    scaleBits,
    superRows,
    superGroups,
    outlierSlots,
    widthMapOffset,
    p4Offset,
    p2Offset,
    p1Offset,
    p4RowWords,
    p2RowWords,
    p1RowWords,
    metaOffset,
    metaBits,
    metaWords,
    s2Offset,
    tileRows,
    tileCols,
    outlierOffset,
    byteLength,
    bitsPerWeight: (8 * byteLength) / (rows * cols),
  };
}

/** Bytes of a blob with these parameters (SPEC.md §3: every byte, header and padding included). */
export function bxByteLength(p: BxLayoutParams): number {
  return bxLayout(p).byteLength;
}

/** Bits per weight of a blob with these parameters, counting every byte. */
export function bxLayoutBitsPerWeight(p: BxLayoutParams): number {
  return bxLayout(p).bitsPerWeight;
}

/** Writes the 28-byte header of `l` (the width map is written separately). */
export function writeBxHeader(dv: DataView, l: BxLayout): void {
  const H = BX_HEADER;
  dv.setUint32(H.magic, BX_MAGIC, true);
  dv.setUint16(H.version, BX_VERSION, true);
  dv.setUint16(H.groupSize, l.groupSize, true);
  dv.setUint32(H.rows, l.rows, true);
  dv.setUint32(H.cols, l.cols, true);
  dv.setUint8(H.flags, l.secondOrder ? BX_FLAG_SECOND_ORDER : 0);
  dv.setUint8(H.scaleBits, l.scaleBits);
  dv.setUint8(H.superRows, l.superRows);
  dv.setUint8(H.superGroups, l.superGroups);
  dv.setUint32(H.outlierSlots, l.outlierSlots, true);
  dv.setUint32(H.byteLength, l.byteLength, true);
}
