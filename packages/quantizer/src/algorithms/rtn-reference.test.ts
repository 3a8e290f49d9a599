/**
 * fitGroup's early termination must not change any result: compared with the
 * exhaustive search it replaced (kept here verbatim as the reference).
 */
import { describe, expect, it } from 'vitest';
import { refFitGroup } from './reference.js';
import { DEFAULT_CLIP_GRID, fitGroup, fitGroupHinted, fitMatrix } from './rtn.js';
import { normal, rng } from './testing.js';

describe('fitGroup (pruned clipping search) = the exhaustive search', () => {
  const G = 64;
  const rows = 300;
  const r = rng(3);
  // Weights with heavy tails, some constant-sign rows, some exact zeros and repeated values (ties).
  const w = normal(rows * G, 17, 0.02);
  for (let i = 0; i < w.length; i++) {
    if (r() < 0.02) w[i] = w[i]! * 20;
    if (r() < 0.01) w[i] = 0;
  }
  for (let c = 0; c < G; c++) w[5 * G + c] = Math.abs(w[5 * G + c]!);
  for (let c = 0; c < G; c++) w[6 * G + c] = (c % 4) * 0.01;
  const hs: [string, Float64Array][] = [
    ['ones', new Float64Array(G).fill(1)],
    ['hessian diagonal with zeros', Float64Array.from({ length: G }, (_, k) => (k % 9 === 0 ? 0 : 0.1 + 10 * r() ** 3))],
    ['negative entries (no pruning)', Float64Array.from({ length: G }, (_, k) => (k % 7 === 0 ? -0.5 : 1 + r()))],
  ];
  for (const [label, h] of hs) {
    it(label, () => {
      for (const bits of [2, 3, 4]) {
        for (let row = 0; row < rows; row++) {
          for (const [c0, c1] of [
            [0, G],
            [0, 40],
            [8, 24],
          ] as const) {
            const a = fitGroup(w, row * G, c0, c1, h, bits);
            const b = refFitGroup(w, row * G, c0, c1, h, bits);
            expect(Object.is(a.scale, b.scale) && Object.is(a.zero, b.zero) && Object.is(a.err, b.err)).toBe(true);
          }
        }
      }
    });
  }

  it('whatever candidate is tried first (hint), the result is the exhaustive search\'s, ties included', () => {
    const h = hs[1]![1];
    const n = DEFAULT_CLIP_GRID.length ** 2;
    for (const bits of [2, 3, 4]) {
      for (let row = 0; row < 40; row++) {
        const b = refFitGroup(w, row * G, 0, G, h, bits);
        for (const hint of [-1, 0, 1, 13, 77, n - 1, n, (row * 31) % n]) {
          const a = fitGroupHinted(w, row * G, 0, G, h, bits, DEFAULT_CLIP_GRID, hint);
          expect(Object.is(a.scale, b.scale) && Object.is(a.zero, b.zero) && Object.is(a.err, b.err)).toBe(true);
        }
      }
    }
    // Exact ties: a row on a 4-level grid, where many clipping pairs give the same error.
    const tie = Float32Array.from({ length: G }, (_, k) => ((k * 5) % 4) * 0.25 - 0.25);
    for (const hint of [1, 5, 50, 100]) {
      const a = fitGroupHinted(tie, 0, 0, G, new Float64Array(G).fill(1), 2, DEFAULT_CLIP_GRID, hint);
      const b = refFitGroup(tie, 0, 0, G, new Float64Array(G).fill(1), 2);
      expect([a.scale, a.zero, a.err]).toEqual([b.scale, b.zero, b.err]);
    }
  });

  it('fitMatrix with a custom grid and without search is unchanged too', () => {
    const h = hs[1]![1];
    const widths = Uint8Array.from([2, 3, 4, 2]);
    const cols = 2 * G;
    const hh = Float64Array.from({ length: cols }, (_, k) => h[k % G]!);
    const fm = fitMatrix(w, 100, cols, 32, widths, hh, { clipGrid: [0, 0.1, 0.3] });
    for (let row = 0; row < 100; row++) {
      for (let g = 0; g < 4; g++) {
        const b = refFitGroup(w, row * cols, g * 32, g * 32 + 32, hh, widths[g]!, [0, 0.1, 0.3]);
        expect(fm.scales[row * 4 + g]).toBe(Math.fround(b.scale));
        expect(fm.zeros[row * 4 + g]).toBe(b.zero);
      }
    }
  });
});
