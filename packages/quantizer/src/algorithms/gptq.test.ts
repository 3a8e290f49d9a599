import { describe, expect, it } from 'vitest';
import { gptqQuantize } from './gptq.js';
import { dequantize, fitMatrix, quantizeRtn } from './rtn.js';
import { activations, normal, outputError } from './testing.js';

describe('GPTQ', () => {
  const rows = 24;
  const cols = 48;
  const n = 256;
  const { x, h } = activations(n, cols, 9);
  const w = normal(rows * cols, 4, 0.1);
  const widths = Uint8Array.from([3, 3, 3]);
  const hdiag = Array.from({ length: cols }, (_, k) => h[k * cols + k]!);
  const params = fitMatrix(w, rows, cols, 16, widths, hdiag);
  const rtn = dequantize(quantizeRtn(w, rows, cols, 16, widths, params), rows, cols, 16, params);
  const eRtn = outputError(w, rtn, rows, cols, x, n);

  it('cuts the output error of round-to-nearest with the same group params', () => {
    for (const actOrder of [false, true]) {
      for (const blockSize of [128, 7]) {
        const r = gptqQuantize({ w, rows, cols, groupSize: 16, widths, params, h }, { actOrder, blockSize });
        const wq = dequantize(r.codes, rows, cols, 16, params);
        const e = outputError(w, wq, rows, cols, x, n);
        expect(e).toBeLessThan(0.75 * eRtn);
        for (let i = 0; i < r.codes.length; i++) expect(r.codes[i]).toBeLessThan(8);
      }
    }
  });

  it('the block size changes nothing but rounding', () => {
    const a = gptqQuantize({ w, rows, cols, groupSize: 16, widths, params, h }, { blockSize: 128 });
    const b = gptqQuantize({ w, rows, cols, groupSize: 16, widths, params, h }, { blockSize: 5 });
    let diff = 0;
    for (let i = 0; i < a.codes.length; i++) diff += a.codes[i] !== b.codes[i] ? 1 : 0;
    expect(diff).toBeLessThanOrEqual(2);
  });

  it('with a diagonal Hessian it is round-to-nearest', () => {
    const d = new Float64Array(cols * cols);
    for (let k = 0; k < cols; k++) d[k * cols + k] = 1 + k;
    const r = gptqQuantize({ w, rows, cols, groupSize: 16, widths, params, h: d });
    expect(Array.from(r.codes)).toEqual(Array.from(quantizeRtn(w, rows, cols, 16, widths, params)));
  });

  it('zeroes dead inputs and keeps outliers exact', () => {
    const hd = Float64Array.from(h);
    for (let j = 0; j < cols; j++) {
      hd[5 * cols + j] = 0;
      hd[j * cols + 5] = 0;
    }
    const mask = new Uint8Array(rows * cols);
    mask[2 * cols + 0] = 1;
    mask[0 * cols + 40] = 1;
    const r = gptqQuantize({ w, rows, cols, groupSize: 16, widths, params, h: hd, outlierMask: mask });
    const wq = dequantize(r.codes, rows, cols, 16, params, r.outliers);
    for (let row = 0; row < rows; row++) expect(wq[row * cols + 5]).toBe(0);
    expect(Array.from(r.outliers.rows)).toEqual([0, 2]);
    expect(Array.from(r.outliers.cols)).toEqual([40, 0]);
    // The first processed column is quantized from the original weight, so its outlier is the weight itself (f16-rounded).
    expect(r.outliers.values[1]).toBeCloseTo(w[2 * cols + 0]!, 3);
  });
});
