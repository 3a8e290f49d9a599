import { describe, expect, it } from 'vitest';
import { gptqQuantize } from './gptq.js';
import { dequantizeMatrix, hessianError, quantizeMatrix, refitScales } from './matrix.js';
import { dequantize, fitMatrix } from './rtn.js';
import { activations, normal } from './testing.js';

describe('scale refitting under the full Hessian', () => {
  const rows = 16;
  const cols = 40; // groups of 16, 16 and a partial 8
  const { h } = activations(200, cols, 5);
  const w = normal(rows * cols, 11, 0.1);
  const widths = Uint8Array.from([2, 3, 2]);
  const hdiag = Array.from({ length: cols }, (_, k) => h[k * cols + k]!);
  const params = fitMatrix(w, rows, cols, 16, widths, hdiag);
  const none = { rows: [], cols: [], values: [] };

  it('never increases the full-Hessian error for fixed codes, and lowers it after GPTQ', () => {
    const r = gptqQuantize({ w, rows, cols, groupSize: 16, widths, params, h });
    const before = hessianError(w, dequantize(r.codes, rows, cols, 16, params), rows, cols, h);
    const scales = refitScales(w, rows, cols, 16, r.codes, params, none, h);
    const after = hessianError(w, dequantize(r.codes, rows, cols, 16, { ...params, scales }), rows, cols, h);
    expect(after).toBeLessThan(before);
    for (const s of scales) expect(s).toBeGreaterThan(0);
  });

  it('recovers the exact scale when the weights are a scaled code grid (one group per row: one exact step)', () => {
    // w = 0.37 · (q − z) exactly: the refit from a wrong scale lands on 0.37.
    const k = 16;
    const hk = new Float64Array(k * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) hk[i * k + j] = h[i * cols + j]!;
    const q = Uint8Array.from({ length: rows * k }, (_, i) => (i * 7) % 4);
    const z = 1;
    const wg = Float32Array.from(q, (v) => 0.37 * (v - z));
    const p = { rows, groups: 1, scales: new Float32Array(rows).fill(0.3), zeros: new Uint8Array(rows).fill(z) };
    const s = refitScales(wg, rows, k, 16, q, p, none, hk);
    for (const v of s) expect(v).toBeCloseTo(0.37, 5);
  });

  it('quantizeMatrix with refit keeps the best round (never worse than plain GPTQ under H)', () => {
    const base = { groupSize: 16, widths, hessian: h, hdiag };
    const plain = quantizeMatrix(w, rows, cols, base);
    const refit = quantizeMatrix(w, rows, cols, { ...base, refit: 2 });
    const e0 = hessianError(w, dequantizeMatrix(plain), rows, cols, h);
    const e1 = hessianError(w, dequantizeMatrix(refit), rows, cols, h);
    expect(e1).toBeLessThan(e0);
  });
});
