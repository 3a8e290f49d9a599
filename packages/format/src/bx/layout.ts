/**
 * Size formulas of the bx format (SPEC.md §3) and the fixed header.
 */
import { ModelFormatError } from '../errors.js';
import {
  BX_DEFAULT_SCALE_BITS,
  BX_DEFAULT_SUPER_GROUP,
  BX_GROUP_SIZES,
  BX_HEADER_BYTES,
  BX_MAGIC,
  BX_VERSION,
  type BxLayout,
  type BxLayoutParams,
  type BxRowAlign,
} from './types.js';

/** Largest blob v1 can describe (offsets are u32). */
export const BX_MAX_BYTES = 0xffffffff;
/** Largest row or column count. */
export const BX_MAX_DIM = 0x7fffffff;
/** Outlier column indices are u16. */
export const BX_MAX_OUTLIER_COLS = 65536;

/** Header field byte offsets (SPEC.md §2). */
export const BX_HEADER = {
  magic: 0,
  version: 4,
  headerBytes: 6,
  flags: 8,
  rows: 12,
  cols: 16,
  groupSize: 20,
  scaleBits: 22,
  rowAlign: 23,
  nGroups: 24,
  count2: 28,
  count3: 32,
  count4: 36,
  superRows: 40,
  superGroups: 44,
  nOutliers: 48,
  widthMapOffset: 52,
  rowsOffset: 56,
  rowStride: 60,
  p4Offset: 64,
  p2Offset: 68,
  p1Offset: 72,
  metaOffset: 76,
  metaBits: 80,
  s2Offset: 84,
  outlierRowStartOffset: 88,
  outlierEntriesOffset: 92,
  byteLength: 96,
  /** 100..127: reserved, zero. */
  reserved: 100,
} as const;

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
  const rowAlign: BxRowAlign = p.rowAlign ?? 16;
  if (rowAlign !== 4 && rowAlign !== 16) fail(`row alignment ${String(rowAlign)} must be 4 or 16`);
  let scaleBits = 0;
  let superRows = 0;
  let superGroups = 0;
  if (secondOrder) {
    scaleBits = p.scaleBits ?? BX_DEFAULT_SCALE_BITS;
    if (!Number.isInteger(scaleBits) || scaleBits < 2 || scaleBits > 8) fail(`scale code bits ${scaleBits} must be an integer in 2..8`);
    const sg = p.superGroup ?? BX_DEFAULT_SUPER_GROUP;
    superRows = sg.rows;
    superGroups = sg.groups;
    if (!Number.isSafeInteger(superRows) || superRows < 1 || superRows > BX_MAX_DIM) fail(`super-group rows ${superRows} must be a positive integer`);
    if (!Number.isSafeInteger(superGroups) || superGroups < 1 || superGroups > BX_MAX_DIM) fail(`super-group groups ${superGroups} must be a positive integer`);
  } else if (secondOrder !== false) {
    fail(`secondOrder must be a boolean`);
  }
  const nOutliers = p.outliers;
  if (!Number.isSafeInteger(nOutliers) || nOutliers < 0) fail(`outlier count ${nOutliers} must be a non-negative integer`);
  if (nOutliers > 0 && cols > BX_MAX_OUTLIER_COLS) fail(`outliers need cols <= ${BX_MAX_OUTLIER_COLS} (u16 column index), got ${cols}`);
  if (nOutliers > rows * cols) fail(`${nOutliers} outliers exceed the ${rows * cols} weights`);

  const scaleFieldBits = secondOrder ? scaleBits : 16;
  const G = groupSize;
  // Row record: 4-bit plane, 2-bit plane, 1-bit plane, meta bitstream.
  const p4Offset = 0;
  const p2Offset = p4Offset + (count4 * G) / 2;
  const p1Offset = p2Offset + ((count2 + count3) * G) / 4;
  const metaOffset = p1Offset + (count3 * G) / 8;
  const metaBits = nGroups * scaleFieldBits + sumWidths;
  const recordBytes = metaOffset + Math.ceil(metaBits / 32) * 4;
  const rowStride = align(recordBytes, rowAlign);
  const widthMapOffset = BX_HEADER_BYTES;
  const rowsOffset = widthMapOffset + align(nGroups, 16);
  const s2Offset = align(rowsOffset + rows * rowStride, 16);
  const tileRows = secondOrder ? Math.ceil(rows / superRows) : 0;
  const tileCols = secondOrder ? Math.ceil(nGroups / superGroups) : 0;
  const outlierRowStartOffset = align(s2Offset + tileRows * tileCols * 4, 16);
  const outlierEntriesOffset = align(outlierRowStartOffset + (nOutliers > 0 ? (rows + 1) * 4 : 0), 16);
  const byteLength = align(outlierEntriesOffset + nOutliers * 4, 16);
  if (!Number.isSafeInteger(byteLength) || byteLength > BX_MAX_BYTES) fail(`blob of ${byteLength} bytes exceeds the ${BX_MAX_BYTES}-byte limit of format v1`);
  return {
    rows,
    cols,
    groupSize,
    nGroups,
    count2,
    count3,
    count4,
    secondOrder,
    scaleFieldBits,
    scaleBits,
    superRows,
    superGroups,
    rowAlign,
    nOutliers,
    widthMapOffset,
    rowsOffset,
    rowStride,
    p4Offset,
    p2Offset,
    p1Offset,
    metaOffset,
    metaBits,
    s2Offset,
    tileRows,
    tileCols,
    outlierRowStartOffset,
    outlierEntriesOffset,
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

/** Writes the 128-byte header of `l` into `out` (which starts at the blob's first byte). */
export function writeBxHeader(dv: DataView, l: BxLayout): void {
  const H = BX_HEADER;
  dv.setUint32(H.magic, BX_MAGIC, true);
  dv.setUint16(H.version, BX_VERSION, true);
  dv.setUint16(H.headerBytes, BX_HEADER_BYTES, true);
  dv.setUint32(H.flags, l.secondOrder ? BX_FLAG_SECOND_ORDER : 0, true);
  dv.setUint32(H.rows, l.rows, true);
  dv.setUint32(H.cols, l.cols, true);
  dv.setUint16(H.groupSize, l.groupSize, true);
  dv.setUint8(H.scaleBits, l.scaleBits);
  dv.setUint8(H.rowAlign, l.rowAlign);
  dv.setUint32(H.nGroups, l.nGroups, true);
  dv.setUint32(H.count2, l.count2, true);
  dv.setUint32(H.count3, l.count3, true);
  dv.setUint32(H.count4, l.count4, true);
  dv.setUint32(H.superRows, l.superRows, true);
  dv.setUint32(H.superGroups, l.superGroups, true);
  dv.setUint32(H.nOutliers, l.nOutliers, true);
  dv.setUint32(H.widthMapOffset, l.widthMapOffset, true);
  dv.setUint32(H.rowsOffset, l.rowsOffset, true);
  dv.setUint32(H.rowStride, l.rowStride, true);
  dv.setUint32(H.p4Offset, l.p4Offset, true);
  dv.setUint32(H.p2Offset, l.p2Offset, true);
  dv.setUint32(H.p1Offset, l.p1Offset, true);
  dv.setUint32(H.metaOffset, l.metaOffset, true);
  dv.setUint32(H.metaBits, l.metaBits, true);
  dv.setUint32(H.s2Offset, l.s2Offset, true);
  dv.setUint32(H.outlierRowStartOffset, l.outlierRowStartOffset, true);
  dv.setUint32(H.outlierEntriesOffset, l.outlierEntriesOffset, true);
  dv.setUint32(H.byteLength, l.byteLength, true);
}
