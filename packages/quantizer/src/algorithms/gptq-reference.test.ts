/**
 * gptqQuantize (shared factor cache, tiled lazy update, no Hessian copies) must
 * give BIT-IDENTICAL results to the straightforward implementation it replaced
 * (kept here verbatim, with the textbook linalg, as the reference).
 */
import { describe, expect, it } from 'vitest';
import { gptqQuantize, type GptqInput, type GptqResult } from './gptq.js';
import { refGptqQuantize } from './reference.js';
import { fitMatrix } from './rtn.js';
import { activations, normal } from './testing.js';

function same(a: GptqResult, b: GptqResult) {
  expect(Buffer.from(a.codes).equals(Buffer.from(b.codes))).toBe(true);
  expect(Array.from(a.outliers.rows)).toEqual(Array.from(b.outliers.rows));
  expect(Array.from(a.outliers.cols)).toEqual(Array.from(b.outliers.cols));
  expect(Array.from(a.outliers.values)).toEqual(Array.from(b.outliers.values));
  expect(Object.is(a.loss, b.loss)).toBe(true);
  expect(a.damp).toBe(b.damp);
}

describe('gptqQuantize = the reference implementation, bit for bit', () => {
  const cases = [
    { rows: 24, cols: 48, t: 256, G: 16 },
    { rows: 300, cols: 40, t: 30, G: 16 }, // more rows than a tile; rank-deficient H (30 samples < 40 inputs)
    { rows: 7, cols: 150, t: 400, G: 32 }, // several blocks of 128, a partial group
    { rows: 520, cols: 20, t: 50, G: 8 },
  ];
  for (const { rows, cols, t, G } of cases) {
    const { h } = activations(t, cols, rows + cols);
    for (let j = 0; j < cols; j++) {
      // two dead inputs
      h[3 * cols + j] = 0;
      h[j * cols + 3] = 0;
      h[(cols - 2) * cols + j] = 0;
      h[j * cols + cols - 2] = 0;
    }
    const w = normal(rows * cols, rows, 0.05);
    const groups = Math.ceil(cols / G);
    const widths = Uint8Array.from({ length: groups }, (_, g) => 2 + (g % 3));
    const hdiag = Array.from({ length: cols }, (_, k) => h[k * cols + k]!);
    const params = fitMatrix(w, rows, cols, G, widths, hdiag);
    const mask = new Uint8Array(rows * cols);
    for (let i = 0; i < mask.length; i += 37) mask[i] = 1;
    for (const actOrder of [false, true]) {
      for (const blockSize of [128, 7]) {
        for (const withMask of [false, true]) {
          it(`${rows}×${cols}, act-order ${actOrder}, block ${blockSize}, outliers ${withMask}`, () => {
            const input: GptqInput = { w, rows, cols, groupSize: G, widths, params, h, outlierMask: withMask ? mask : undefined };
            const ref = refGptqQuantize(input, { actOrder, blockSize });
            same(gptqQuantize(input, { actOrder, blockSize }), ref);
            // Again: the cached factor gives the same.
            same(gptqQuantize(input, { actOrder, blockSize }), ref);
          });
        }
      }
    }
  }

  it('raises the damping like the reference when H + λI is not positive definite', () => {
    const rows = 9;
    const cols = 12;
    const { h } = activations(40, cols, 2);
    h[5 * cols + 5] = -50; // indefinite until λ is large
    const w = normal(rows * cols, 4, 0.1);
    const widths = Uint8Array.from([3, 3, 3]);
    const params = fitMatrix(w, rows, cols, 4, widths, new Float64Array(cols).fill(1));
    const ref = refGptqQuantize({ w, rows, cols, groupSize: 4, widths, params, h }, {});
    expect(ref.damp).toBeGreaterThan(0.01);
    same(gptqQuantize({ w, rows, cols, groupSize: 4, widths, params, h }, {}), ref);
  });

  it('a Hessian modified in place is factored again', () => {
    const rows = 10;
    const cols = 16;
    const { h } = activations(100, cols, 8);
    const w = normal(rows * cols, 6, 0.1);
    const widths = Uint8Array.from([2, 2]);
    const params = fitMatrix(w, rows, cols, 8, widths, new Float64Array(cols).fill(1));
    const input = { w, rows, cols, groupSize: 8, widths, params, h };
    same(gptqQuantize(input, { actOrder: true }), refGptqQuantize(input, { actOrder: true }));
    for (let i = 0; i < cols; i++) h[i * cols + i] *= 1 + i / 3;
    same(gptqQuantize(input, { actOrder: true }), refGptqQuantize(input, { actOrder: true }));
    same(gptqQuantize(input, { actOrder: false, damp: 0.1 }), refGptqQuantize(input, { actOrder: false, damp: 0.1 }));
  });
});
