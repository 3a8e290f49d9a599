import { describe, expect, it } from 'vitest';
import { SeededRandom } from './random.js';

describe('SeededRandom', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = Array.from({ length: 5 }, ((r) => () => r.next())(new SeededRandom(42)));
    const b = Array.from({ length: 5 }, ((r) => () => r.next())(new SeededRandom(42)));
    const c = Array.from({ length: 5 }, ((r) => () => r.next())(new SeededRandom(43)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('is uniform on [0, 1)', () => {
    const r = new SeededRandom(7);
    const bins = new Array(10).fill(0);
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      expect(u >= 0 && u < 1).toBe(true);
      bins[Math.floor(u * 10)]++;
    }
    for (const b of bins) expect(Math.abs(b - n / 10)).toBeLessThan(n / 100);
  });
});
