import { describe, expect, it } from 'vitest';
import { assertClose, assertEqualInts, compareArrays, resolveTolerance } from './tolerance.js';
import { englishProblem } from './model-checks.js';

describe('tolerance', () => {
  it('computes NMSE and max abs like test-backend-ops', () => {
    const c = compareArrays([1, 2, 3.5], [1, 2, 3]);
    expect(c.nmse).toBeCloseTo(0.25 / 14, 12);
    expect(c.maxAbs).toBe(0.5);
    expect(c.maxAbsIndex).toBe(2);
    expect(compareArrays([0, 0], [0, 0]).nmse).toBe(0);
    expect(compareArrays([1e-30], [0]).nmse).toBe(Infinity);
    expect(compareArrays([NaN], [1]).nmse).toBe(Infinity);
    expect(compareArrays([Infinity], [Infinity]).nmse).toBe(0);
  });

  it('assertClose passes f32 rounding and fails a 1e-5 relative error at 32-bit precision', () => {
    const b = resolveTolerance(32).op('matmul');
    const want = Array.from({ length: 100 }, (_, i) => Math.sin(i) * 10);
    expect(() => assertClose('ok', Float32Array.from(want), want, b)).not.toThrow();
    expect(() => assertClose('bad', want.map((v) => v * (1 + 1e-5)), want, b)).toThrow(/NMSE/);
    expect(() => assertClose('len', [1], [1, 2], b)).toThrow(/length/);
    // 16-bit precision accepts f16 rounding
    const h = resolveTolerance(16).op('matmul');
    expect(() => assertClose('f16', want.map((v) => v * (1 + 4e-4)), want, h)).not.toThrow();
  });

  it('overrides apply per op, then globally, then the defaults', () => {
    const t = resolveTolerance(32, { nmse: 1e-8, ops: { rope: { nmse: 1e-3 } } });
    expect(t.op('rope').nmse).toBe(1e-3);
    expect(t.op('matmul').nmse).toBe(1e-8);
    expect(resolveTolerance(32).op('attention').nmse).toBe(1e-9);
    expect(resolveTolerance(16).logitsMaxAbs).toBe(5e-2);
  });

  it('assertEqualInts', () => {
    expect(() => assertEqualInts('x', [1, 2], [1, 2])).not.toThrow();
    expect(() => assertEqualInts('x', [1, 3], [1, 2])).toThrow(/element 1/);
  });

  it('englishProblem accepts prose and rejects garbage', () => {
    expect(englishProblem(' there was a little girl named Lily. She liked to play with her ball in the park.')).toBeNull();
    expect(englishProblem('ÃÂ¤ÃÂ¤ xq zz kk pp')).not.toBeNull();
    expect(englishProblem('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).not.toBeNull();
    expect(englishProblem('<0x0A><0xE2> the the the')).not.toBeNull();
  });
});
