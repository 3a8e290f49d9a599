import { describe, expect, it } from 'vitest';
import { selectOutliers } from './outliers.js';
import { fitMatrix } from './rtn.js';
import { normal } from './testing.js';

describe('selectOutliers', () => {
  const rows = 8;
  const cols = 64;
  const w = normal(rows * cols, 3);
  w[1 * cols + 10] = 12;
  w[1 * cols + 11] = -11;
  w[1 * cols + 12] = 10;
  w[6 * cols + 50] = 9; // in a 4-bit group
  const widths = Uint8Array.from([2, 4]);
  const h = new Float64Array(cols).fill(1);
  const p = fitMatrix(w, rows, cols, 32, widths, h, { clipGrid: [0, 0.5, 0.7] });

  it('takes the largest weighted errors in 2-bit groups only, capped per row', () => {
    const s = selectOutliers(w, rows, cols, 32, widths, p, h, 4, { perRowCap: 2 });
    expect(s.count).toBe(4);
    let inRow1 = 0;
    for (let c = 0; c < cols; c++) inRow1 += s.mask[1 * cols + c]!;
    expect(inRow1).toBe(2);
    for (let r = 0; r < rows; r++) for (let c = 32; c < 64; c++) expect(s.mask[r * cols + c]).toBe(0);
  });

  it('may include wider groups when asked', () => {
    const s = selectOutliers(w, rows, cols, 32, widths, p, h, 1, { eligibleWidths: [4], perRowCap: 1 });
    expect(s.count).toBe(1);
  });

  it('zero budget selects nothing', () => {
    expect(selectOutliers(w, rows, cols, 32, widths, p, h, 0).count).toBe(0);
  });
});
