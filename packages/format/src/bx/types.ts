/**
 * Types and constants of the bitexit mixed-precision matrix format v1 ("bx").
 * The normative description is packages/format/SPEC.md; this file is the API
 * the quantizer, the loaders and the kernels code against.
 *
 * Functions (implemented in ./codec.ts, ./layout.ts, ./params.ts, exported
 * from '@bitexit/format'):
 *
 * - `representableGroupParams(scales, zeros, widths, rows, options)`
 *     -> `{ scales, zeros }`: the exact f32 values the file will hold for the
 *     first-order parameters (f16 rounding, or second-order quantization), so a
 *     quantizer can pick codes against the real scales.
 * - `encodeBx(m: BxMatrix): Uint8Array` (validates everything; ModelFormatError)
 * - `parseBx(bytes: Uint8Array, name?: string): BxView` (validates the header and
 *     every table against the blob length; ModelFormatError, never an
 *     out-of-bounds read)
 * - `decodeBx(src: Uint8Array | BxView): BxMatrix` (inverse of encodeBx)
 * - `dequantizeBx(src: Uint8Array | BxView): Float32Array` (reference, rows*cols, row-major)
 * - `bxBitsPerWeight(src: Uint8Array | BxView): number` (8 * byteLength / (rows * cols))
 * - `bxLayout(params: BxLayoutParams): BxLayout` and `bxByteLength(params): number` (size formulas)
 * - `bxDequantValue(scale, code, zero)`: fround(scale * (code - zero)), the one normative product.
 */

/** 'BXMF' read as a little-endian u32 (bytes 42 58 4D 46). */
export const BX_MAGIC = 0x464d5842;
export const BX_VERSION = 1;
/** Fixed header size of format v1, bytes (the width map follows at this offset). */
export const BX_HEADER_BYTES = 28;

/** Bit widths a column group may have. */
export type BxWidth = 2 | 3 | 4;
export const BX_WIDTHS: readonly BxWidth[] = [2, 3, 4];
/** Group sizes (columns per group) format v1 allows. */
export const BX_GROUP_SIZES: readonly number[] = [32, 64, 128];
export const BX_DEFAULT_GROUP_SIZE = 64;

/**
 * A second-order block ("super-group"): `rows` consecutive rows × `groups`
 * consecutive column groups share one f16 scale-of-scales `d` and one f16
 * minimum `m`; each first-order scale in the block is `d * code + m` with an
 * unsigned `scaleBits`-bit code.
 */
export interface BxSuperGroup {
  rows: number;
  groups: number;
}
export const BX_DEFAULT_SUPER_GROUP: Readonly<BxSuperGroup> = Object.freeze({ rows: 16, groups: 1 });
/** Bits of a second-order scale code (2..8). */
export const BX_DEFAULT_SCALE_BITS = 8;
/** Largest super-group extent (rows or groups): the header stores each as a u8. */
export const BX_MAX_SUPER = 255;

/** Sparse 16-bit outliers: W[rows[i], cols[i]] = values[i] (replaces the quantized value). */
export interface BxOutliers {
  rows: Uint32Array;
  cols: Uint32Array;
  /** Must be exactly representable in f16 and non-zero (encodeBx rejects others: a zero weight needs no outlier, code = zero gives it exactly). */
  values: Float32Array;
}

/**
 * One quantized matrix W [rows = out features, cols = in features], quantized
 * group-wise along cols: W[r, c] ≈ scale[r, g] * (code[r, c] - zero[r, g]),
 * g = floor(c / groupSize), width of every code in column group g = widths[g].
 */
export interface BxMatrix {
  rows: number;
  cols: number;
  /** 32, 64 or 128. cols need not be a multiple: the last group is partial (stored at its true length, padded to a u32 word). */
  groupSize: number;
  /** Per column group (ceil(cols / groupSize) entries): 2, 3 or 4. */
  widths: Uint8Array;
  /** rows*cols codes, row-major, each < 2^width of its group. */
  codes: Uint8Array;
  /** rows*nGroups first-order scales (row-major [row][group]). Stored exactly as representableGroupParams returns them. */
  scales: Float32Array;
  /** rows*nGroups zeros, integers in [0, 2^width - 1]. */
  zeros: Float32Array;
  outliers: BxOutliers;
  /** Second-order quantization of the scales (false: scales stored as f16). */
  secondOrder: boolean;
  /** Second-order block shape (default BX_DEFAULT_SUPER_GROUP); ignored when secondOrder is false. */
  superGroup?: BxSuperGroup;
  /** Second-order scale code bits, 2..8 (default 8); ignored when secondOrder is false. */
  scaleBits?: number;
  /**
   * Outlier slots per row (SPEC.md §3.6, ELL layout: every row has the same
   * number of slots; unused slots are zero words). Default: the largest
   * number of outliers in any row. Must be at least that.
   */
  outlierSlots?: number;
  /**
   * The exact second-order parameters (as returned by representableGroupParams).
   * When given, encodeBx stores them and checks that every scale equals
   * fround(d * code + m) exactly; when absent, encodeBx computes them from
   * `scales` with the standard algorithm, so the file holds
   * representableGroupParams(scales).scales (pass them to be exact).
   */
  secondOrderParams?: BxSecondOrderParams;
}

/**
 * Second-order parameters: per tile (tileRows × tileCols, row-major) an f16
 * scale-of-scales `d` and an f16 minimum `m`; per (row, group) a code.
 * scale[r, g] = fround(d[t] * codes[r * nGroups + g] + m[t]), t = tile of (r, g).
 */
export interface BxSecondOrderParams {
  /** f16-representable, tileRows * tileCols entries. */
  d: Float32Array;
  /** f16-representable, tileRows * tileCols entries. */
  m: Float32Array;
  /** rows * nGroups codes, each < 2^scaleBits. */
  codes: Uint8Array;
}

/** Result of representableGroupParams. */
export interface BxRepresentableParams {
  /** The exact f32 scales a decoder will compute (rows * nGroups). */
  scales: Float32Array;
  /** Zeros rounded to integers and clamped to [0, 2^width - 1]. */
  zeros: Float32Array;
  /** Present when options.secondOrder: pass it as BxMatrix.secondOrderParams. */
  secondOrder?: BxSecondOrderParams;
}

/** Options of representableGroupParams. */
export interface BxParamOptions {
  secondOrder: boolean;
  superGroup?: BxSuperGroup;
  scaleBits?: number;
}

/** What the size of a blob depends on. */
export interface BxLayoutParams {
  rows: number;
  cols: number;
  groupSize: number;
  /** Per column group width (2|3|4), ceil(cols / groupSize) entries. */
  widths: ArrayLike<number>;
  secondOrder: boolean;
  superGroup?: BxSuperGroup;
  scaleBits?: number;
  /** Outlier slots per row (0: no outlier table). */
  outlierSlots: number;
}

/**
 * Byte layout of one blob (all offsets in bytes from the start of the blob).
 * SPEC.md §3.
 */
export interface BxLayout {
  rows: number;
  cols: number;
  groupSize: number;
  nGroups: number;
  /** Groups of width 2, 3, 4. */
  count2: number;
  count3: number;
  count4: number;
  /** Columns of the last group (= groupSize unless cols is not a multiple of it). */
  lastGroupCols: number;
  secondOrder: boolean;
  /** 16 (f16 scales) or scaleBits (second-order codes). */
  scaleFieldBits: number;
  /** 0 when secondOrder is false. */
  scaleBits: number;
  superRows: number;
  superGroups: number;
  /** Outlier slots per row (0: none). */
  outlierSlots: number;
  /** = BX_HEADER_BYTES: the 2-bit width map. */
  widthMapOffset: number;
  /** The code planes: 4-bit (4-bit groups), 2-bit (low bits of 2- and 3-bit groups), 1-bit (high bit of 3-bit groups). 16-byte aligned. */
  p4Offset: number;
  p2Offset: number;
  p1Offset: number;
  /** u32 words per row in each plane (rows are dense: row r starts at word r * rowWords of the plane). */
  p4RowWords: number;
  p2RowWords: number;
  p1RowWords: number;
  /** The meta bitstream: per row metaBits bits (scale fields then zero fields), rows back to back. */
  metaOffset: number;
  /** Bits of one row's meta: nGroups * scaleFieldBits + Σ widths. */
  metaBits: number;
  /** u32 words of the meta plane: ceil(rows * metaBits / 32). */
  metaWords: number;
  /** Second-order table [tileRows][tileCols] of u32 (f16 d | f16 m << 16); 0 bytes when off. */
  s2Offset: number;
  tileRows: number;
  tileCols: number;
  /** Outlier table: rows * outlierSlots u32 entries (f16 value << 16 | column), row-major. */
  outlierOffset: number;
  byteLength: number;
  /** 8 * byteLength / (rows * cols). */
  bitsPerWeight: number;
}

/** A validated blob: the layout plus typed views of its tables (no copies). */
export interface BxView {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly layout: BxLayout;
  /** Width of each column group (expanded from the 2-bit width map). */
  readonly widths: Uint8Array;
  /**
   * The blob as little-endian u32 words (a view when the blob is 4-byte
   * aligned in memory, else a copy). Word i covers bytes 4i..4i+3.
   */
  readonly words: Uint32Array;
  /** Per group: index of its slot in the 2-bit plane (2- and 3-bit groups), else -1. */
  readonly slot2: Int32Array;
  /** Per group: slot in the 1-bit plane (3-bit groups), else -1. */
  readonly slot1: Int32Array;
  /** Per group: slot in the 4-bit plane (4-bit groups), else -1. */
  readonly slot4: Int32Array;
  /** Per group: bit offset of its zero field inside a row's meta bits. */
  readonly zeroBit: Int32Array;
  /** Number of real (non-padding) outlier entries. */
  readonly outlierCount: number;
}

/**
 * GGUF metadata keys of bitexit files (SPEC.md §7). `formatVersion` and
 * `tensors` are normative (writeGguf adds them when bx tensors are written);
 * the `quant.*` keys describe how the file was made and are informative.
 */
export const BX_GGUF_KEYS = {
  /** u32: version of the bx format of the file's bx tensors (1). */
  formatVersion: 'bitexit.format.version',
  /** array of string: names of the tensors stored as bx blobs (1-D I8 tensors). */
  tensors: 'bitexit.bx.tensors',
  /** f32: bits per weight of the bx matrices, every byte of their blobs counted. */
  bitsPerWeightMatrices: 'bitexit.quant.bits_per_weight.matrices',
  /** f32: 8 × (bytes of all tensor data) / (parameters of all tensors). */
  bitsPerWeightFile: 'bitexit.quant.bits_per_weight.file',
  /** array of u8: the widths the allocator could choose (e.g. [2, 3, 4]). */
  widths: 'bitexit.quant.widths',
  /** array of f32: fraction of column groups of width 2, 3, 4 over all bx matrices. */
  widthFractions: 'bitexit.quant.width_fractions',
  /** u32: group size. */
  groupSize: 'bitexit.quant.group_size',
  /** bool: second-order scales. */
  secondOrder: 'bitexit.quant.second_order',
  /** f32: outliers / weights over all bx matrices. */
  outlierFraction: 'bitexit.quant.outlier_fraction',
  /** string: e.g. 'gptq+clip', 'rtn'. */
  method: 'bitexit.quant.method',
  /** string: storage of token embeddings ('bx', 'q8_0', 'f16', 'f32'). */
  policyEmbeddings: 'bitexit.quant.policy.embeddings',
  /** string: storage of the LM head. */
  policyLmHead: 'bitexit.quant.policy.lm_head',
  /** string: storage of norm weights (normally 'f32'). */
  policyNorms: 'bitexit.quant.policy.norms',
  /** string: calibration text description (optional). */
  calibration: 'bitexit.quant.calibration',
} as const;
