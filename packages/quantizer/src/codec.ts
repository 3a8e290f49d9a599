/**
 * The bridge to the file format (@bitexit/format's "bx" matrices): exact
 * sizes for the allocator, the representable (second-order) parameters the
 * codes are chosen against, and encoding.
 */
import { bxLayout, encodeBx, representableGroupParams } from '@bitexit/format';
import type { BxMatrix, BxSecondOrderParams } from '@bitexit/format';
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
}

export class BxCodec {
  constructor(readonly o: CodecOptions) {}

  /** Exact bytes of a matrix with these widths and outlier slots per row (every byte of the blob). */
  byteLength(rows: number, cols: number, widths: ArrayLike<number>, outlierSlots = 0): number {
    return bxLayout({
      rows,
      cols,
      groupSize: this.o.groupSize,
      widths,
      secondOrder: this.o.secondOrder,
      scaleBits: this.o.scaleBits,
      superGroup: this.o.superRows ? { rows: this.o.superRows, groups: 1 } : undefined,
      outlierSlots,
    }).byteLength;
  }

  /**
   * Bits one column group of `groupCols` columns costs per row at `width`:
   * codes (a partial last group is stored up to its last u32 word: 3-bit as
   * a 2-bit and a 1-bit part), scale field, zero field. The rest of the blob
   * (header, plane alignment, second-order table) is counted by byteLength.
   */
  groupBitsPerRow(groupCols: number, width: Width): number {
    const scaleField = this.o.secondOrder ? (this.o.scaleBits ?? 8) : 16;
    const words = (bits: number) => 32 * Math.ceil((groupCols * bits) / 32);
    const codes = width === 3 ? words(2) + words(1) : words(width);
    return codes + width + scaleField;
  }

  /** Bits per outlier slot (one u32 per slot, every row has the same number: SPEC.md §3.6). */
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

  /**
   * The file's BxMatrix. Outliers whose f16 value is 0 are dropped (the format
   * stores none: their code is set to the group's zero, which gives exactly 0).
   */
  toBx(q: QuantizedMatrix & { secondOrder?: BxSecondOrderParams }): BxMatrix {
    let outliers = q.outliers;
    let codes = q.codes;
    if (outliers.values.some((v) => v === 0)) {
      codes = q.codes.slice();
      const keep: number[] = [];
      const nG = q.widths.length;
      outliers.values.forEach((v, k) => {
        const r = outliers.rows[k]!;
        const c = outliers.cols[k]!;
        if (v !== 0) keep.push(k);
        else codes[r * q.cols + c] = q.zeros[r * nG + Math.floor(c / q.groupSize)]!;
      });
      outliers = {
        rows: Uint32Array.from(keep, (k) => q.outliers.rows[k]!),
        cols: Uint32Array.from(keep, (k) => q.outliers.cols[k]!),
        values: Float32Array.from(keep, (k) => q.outliers.values[k]!),
      };
    }
    return {
      rows: q.rows,
      cols: q.cols,
      groupSize: q.groupSize,
      widths: q.widths,
      codes,
      scales: q.scales,
      zeros: Float32Array.from(q.zeros),
      outliers,
      secondOrder: this.o.secondOrder,
      ...(this.o.secondOrder
        ? {
            superGroup: this.o.superRows ? { rows: this.o.superRows, groups: 1 } : undefined,
            scaleBits: this.o.scaleBits,
            secondOrderParams: q.secondOrder,
          }
        : {}),
    };
  }

  encode(q: QuantizedMatrix & { secondOrder?: BxSecondOrderParams }): Uint8Array {
    return encodeBx(this.toBx(q));
  }
}
