/**
 * The bridge to the file format (@bitexit/format's "bx" matrices): exact
 * sizes for the allocator, the representable (second-order) parameters the
 * codes are chosen against, and encoding.
 */
import { bxLayout, encodeBx, representableGroupParams } from '@bitexit/format';
import type { BxMatrix, BxRowAlign, BxSecondOrderParams } from '@bitexit/format';
import type { QuantizedMatrix } from './algorithms/matrix.js';
import type { GroupParams } from './algorithms/rtn.js';
import type { Width } from './algorithms/rtn.js';

export interface CodecOptions {
  groupSize: number;
  secondOrder: boolean;
  /** Second-order scale code bits (2..8). Default 8. */
  scaleBits?: number;
  /** Second-order block rows (block = rows × 1 column group). Default 16. */
  superRows?: number;
  rowAlign: BxRowAlign;
}

export class BxCodec {
  constructor(readonly o: CodecOptions) {}

  /** Exact bytes of a matrix with these widths and outliers (every byte of the blob). */
  byteLength(rows: number, cols: number, widths: ArrayLike<number>, outliers = 0): number {
    return bxLayout({
      rows,
      cols,
      groupSize: this.o.groupSize,
      widths,
      secondOrder: this.o.secondOrder,
      scaleBits: this.o.scaleBits,
      superGroup: this.o.superRows ? { rows: this.o.superRows, groups: 1 } : undefined,
      rowAlign: this.o.rowAlign,
      outliers,
    }).byteLength;
  }

  /** Bits one column group costs per row of the matrix at `width`: codes, scale field, zero field. */
  groupBitsPerRow(groupCols: number, width: Width): number {
    const scaleField = this.o.secondOrder ? (this.o.scaleBits ?? 8) : 16;
    return groupCols * width + width + scaleField;
  }

  /** Bits per outlier (entry) — the row-start table is counted by byteLength. */
  static readonly OUTLIER_BITS = 32;

  /** Rounds first-order params to what the file holds; the second-order codes ride along for encoding. */
  represent(p: GroupParams, widths: Uint8Array): GroupParams & { secondOrder?: BxSecondOrderParams } {
    const r = representableGroupParams(p.scales, Float32Array.from(p.zeros), widths, p.rows, {
      secondOrder: this.o.secondOrder,
      scaleBits: this.o.scaleBits,
      superGroup: this.o.superRows ? { rows: this.o.superRows, groups: 1 } : undefined,
    });
    return { rows: p.rows, groups: p.groups, scales: r.scales, zeros: Uint8Array.from(r.zeros), secondOrder: r.secondOrder };
  }

  toBx(q: QuantizedMatrix & { secondOrder?: BxSecondOrderParams }): BxMatrix {
    return {
      rows: q.rows,
      cols: q.cols,
      groupSize: q.groupSize,
      widths: q.widths,
      codes: q.codes,
      scales: q.scales,
      zeros: Float32Array.from(q.zeros),
      outliers: q.outliers,
      secondOrder: this.o.secondOrder,
      ...(this.o.secondOrder
        ? {
            superGroup: this.o.superRows ? { rows: this.o.superRows, groups: 1 } : undefined,
            scaleBits: this.o.scaleBits,
            secondOrderParams: q.secondOrder,
          }
        : {}),
      rowAlign: this.o.rowAlign,
    };
  }

  encode(q: QuantizedMatrix & { secondOrder?: BxSecondOrderParams }): Uint8Array {
    return encodeBx(this.toBx(q));
  }
}
