import { describe, expect, it } from 'vitest';
import { gptqQuantize } from './gptq.js';
import { refHessianError, refRefitScales } from './reference.js';
import { hessianErrorBlocked, refitScalesBlocked } from './refit.js';
import { dequantize, fitMatrix } from './rtn.js';
import { activations, normal } from './testing.js';

describe('refit.ts (row-blocked) = matrix.ts refitScales / hessianError, bit for bit', () => {
  for (const { rows, cols, G } of [
    { rows: 16, cols: 40, G: 16 }, // partial last group, fewer rows than... a block and a half
    { rows: 8, cols: 32, G: 32 }, // one group per row (single sweep)
    { rows: 27, cols: 72, G: 8 },
    { rows: 3, cols: 20, G: 4 },
  ]) {
    it(`${rows}×${cols}, groups of ${G}`, () => {
      const { h } = activations(150, cols, rows);
      const w = normal(rows * cols, cols, 0.1);
      const groups = Math.ceil(cols / G);
      const widths = Uint8Array.from({ length: groups }, (_, g) => 2 + (g % 3));
      const hdiag = Array.from({ length: cols }, (_, k) => h[k * cols + k]!);
      const params = fitMatrix(w, rows, cols, G, widths, hdiag);
      const mask = new Uint8Array(rows * cols);
      for (let i = 0; i < mask.length; i += 11) mask[i] = 1;
      const r = gptqQuantize({ w, rows, cols, groupSize: G, widths, params, h, outlierMask: mask });
      // Some rows whose codes all sit on the zero point (no update), to hit the skip paths.
      const codes = Uint8Array.from(r.codes);
      for (let c = 0; c < cols; c++) codes[1 * cols + c] = params.zeros[1 * groups + ((c / G) | 0)]!;
      for (const outl of [r.outliers, { rows: [], cols: [], values: [] }]) {
        const a = refitScalesBlocked(w, rows, cols, G, codes, params, outl, h);
        const b = refRefitScales(w, rows, cols, G, codes, params, outl, h);
        expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
        const wq = dequantize(codes, rows, cols, G, { ...params, scales: a }, outl);
        expect(Object.is(hessianErrorBlocked(w, wq, rows, cols, h), refHessianError(w, wq, rows, cols, h))).toBe(true);
      }
      // Exact zero differences (skipped terms).
      const wq0 = Float32Array.from(w);
      for (let i = 0; i < wq0.length; i += 3) wq0[i] = wq0[i]! * 0.9;
      expect(Object.is(hessianErrorBlocked(w, wq0, rows, cols, h), refHessianError(w, wq0, rows, cols, h))).toBe(true);
    });
  }
});
