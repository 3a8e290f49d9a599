import { describe, expect, it } from 'vitest';
import { allocateWidths, shedUntil, type AllocMatrix } from './allocate.js';
import type { Width } from './rtn.js';

const matrix = (errors: number[][], rowsTimesCols = 10): AllocMatrix => ({
  groups: errors[0]!.length,
  errors: errors.map((e) => Float64Array.from(e)),
  groupBits: (_g: number, w: Width) => rowsTimesCols * w,
});

describe('allocateWidths', () => {
  it('spends the budget on the largest error reduction per bit, across matrices', () => {
    const a = matrix([
      [100, 10],
      [20, 5],
      [10, 4],
    ]);
    const b = matrix([[50], [49], [48]]);
    // Narrowest: 3 groups × 20 bits = 60. Budget 80 allows two 1-bit upgrades (10 bits each).
    const r = allocateWidths([a, b], [2, 3, 4], 80);
    expect(Array.from(r.widths[0]!)).toEqual([4, 2]);
    expect(Array.from(r.widths[1]!)).toEqual([2]);
    expect(r.bits).toBe(80);
    expect(r.error).toBeCloseTo(10 + 10 + 50, 9);
  });

  it('jumps 2→4 when 3 bits alone is not worth it (convex hull)', () => {
    const a = matrix([[100], [99], [0]]);
    const b = matrix([[100], [60], [59]]);
    const r = allocateWidths([a, b], [2, 3, 4], 40 + 20);
    expect(r.widths[0]![0]).toBe(4);
    expect(r.widths[1]![0]).toBe(2);
  });

  it('honours a restricted width set and the budget, and sheds on demand', () => {
    const a = matrix([
      [9, 8, 7, 6],
      [1, 1, 1, 1],
    ]);
    const r = allocateWidths([a], [2, 4], 4 * 20 + 2 * 20 + 5);
    expect([...r.widths[0]!].sort()).toEqual([2, 2, 4, 4]);
    expect(r.bits).toBeLessThanOrEqual(125);
    const undone = shedUntil(r, (w) => w[0]!.filter((x) => x === 4).length <= 1);
    expect(undone).toBe(1);
    expect(r.bits).toBe(100);
  });

  it('refuses a budget below the narrowest allocation', () => {
    expect(() => allocateWidths([matrix([[1], [0.5], [0.1]])], [2, 3, 4], 19)).toThrow(RangeError);
  });
});
