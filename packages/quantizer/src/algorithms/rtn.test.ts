import { describe, expect, it } from 'vitest';
import { dequantize, fitGroup, fitMatrix, groupError, quantizeRtn, quantizeValue, rangeParams, widthErrorTable } from './rtn.js';
import { normal } from './testing.js';

describe('round-to-nearest', () => {
  it('rangeParams covers [lo, hi] with 0 exactly representable', () => {
    const p = rangeParams(-1, 2, 3);
    expect(p.scale).toBeCloseTo(1, 12);
    expect(p.zero).toBe(1);
    expect(p.scale * (quantizeValue(0, p.scale, p.zero, 3) - p.zero)).toBe(0);
    expect(quantizeValue(2, p.scale, p.zero, 3)).toBe(3);
    expect(quantizeValue(-5, p.scale, p.zero, 3)).toBe(0);
    // One-sided ranges are widened to include 0; degenerate ones get scale 1.
    expect(rangeParams(0.5, 1.5, 15).zero).toBe(0);
    expect(rangeParams(0, 0, 3)).toEqual({ scale: 1, zero: 0 });
  });

  it('the clipping search never loses to min-max and wins on heavy tails', () => {
    const w = normal(64, 5);
    w[3] = 9; // one outlier stretches the range
    const h = new Float64Array(64).fill(1);
    for (const bits of [2, 3, 4]) {
      const plain = fitGroup(w, 0, 0, 64, h, bits, [0]);
      const clipped = fitGroup(w, 0, 0, 64, h, bits);
      expect(clipped.err).toBeLessThanOrEqual(plain.err);
      if (bits === 2) expect(clipped.err).toBeLessThan(0.9 * plain.err);
      expect(clipped.err).toBeCloseTo(groupError(w, 0, 0, 64, h, clipped.scale, clipped.zero, (1 << bits) - 1), 9);
    }
  });

  it('fits, quantizes and dequantizes a matrix with partial last group and mixed widths', () => {
    const rows = 5;
    const cols = 40; // groups of 16: 16, 16, 8
    const w = normal(rows * cols, 11);
    const widths = Uint8Array.from([2, 4, 3]);
    const h = new Float64Array(cols).fill(1);
    const p = fitMatrix(w, rows, cols, 16, widths, h);
    expect(p.groups).toBe(3);
    const codes = quantizeRtn(w, rows, cols, 16, widths, p);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(codes[r * cols + c]).toBeLessThan(1 << widths[(c / 16) | 0]!);
    const wq = dequantize(codes, rows, cols, 16, p);
    let err = [0, 0, 0];
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) err[(c / 16) | 0] += (w[r * cols + c]! - wq[r * cols + c]!) ** 2;
    for (let g = 0; g < 3; g++) expect(err[g]).toBeCloseTo(p.groupErrors[g]!, 6);
    // 4-bit group error per weight is far below the 2-bit group's.
    expect(err[1]! / 16).toBeLessThan(0.2 * (err[0]! / 16));
  });

  it('error table decreases with width', () => {
    const w = normal(8 * 64, 2);
    const t = widthErrorTable(w, 8, 64, 32, [2, 3, 4], new Float64Array(64).fill(1));
    for (let g = 0; g < 2; g++) {
      expect(t[1]![g]).toBeLessThan(t[0]![g]!);
      expect(t[2]![g]).toBeLessThan(t[1]![g]!);
    }
  });
});
