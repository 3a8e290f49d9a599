/**
 * The cache-blocked linalg.ts must give BIT-IDENTICAL results to the textbook
 * loops it replaced (kept here verbatim as the reference): quantizer output on
 * the fixture models must not change because the loops were reorganised.
 */
import { describe, expect, it } from 'vitest';
import { cholesky, invertLower, NotPositiveDefiniteError, upperCholeskyOfInverse } from './linalg.js';
import { refCholesky, refInvertLower, refUpperCholeskyOfInverse } from './reference.js';
import { activations, normal } from './testing.js';

const same = (a: Float64Array, b: Float64Array) => {
  expect(a.length).toBe(b.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) diff++;
  expect(diff).toBe(0);
};

/** A GPTQ-like Hessian: 2XᵀX/t with t < n possible (rank-deficient) plus damping, some dead inputs. */
function hessian(n: number, t: number, seed: number, dead: number[] = []): Float64Array {
  const { h } = activations(t, n, seed);
  for (const d of dead) {
    for (let j = 0; j < n; j++) {
      h[d * n + j] = 0;
      h[j * n + d] = 0;
    }
    h[d * n + d] = 1;
  }
  let mean = 0;
  for (let k = 0; k < n; k++) mean += h[k * n + k]!;
  mean /= n;
  for (let k = 0; k < n; k++) h[k * n + k] += 0.01 * mean;
  return h;
}

describe('linalg is bit-identical to the textbook loops', () => {
  for (const [n, t] of [
    [1, 4],
    [2, 8],
    [7, 20],
    [8, 30],
    [9, 5],
    [17, 40],
    [33, 12],
    [64, 100],
    [101, 60],
  ] as const) {
    it(`n = ${n} (${t} samples)`, () => {
      const h = hessian(n, t, n + 3, n > 10 ? [3, n - 2] : []);
      const l = cholesky(h, n);
      same(l, refCholesky(h, n));
      same(invertLower(l, n), refInvertLower(l, n));
      const copy = Float64Array.from(l);
      same(invertLower(copy, n, true), refInvertLower(l, n));
      same(upperCholeskyOfInverse(h, n), refUpperCholeskyOfInverse(h, n));
    });
  }

  it('reads only the lower triangle and writes L into `out`', () => {
    const n = 19;
    const h = hessian(n, 50, 2);
    const lowerOnly = Float64Array.from(h);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) lowerOnly[i * n + j] = Number.NaN;
    const out = new Float64Array(n * n);
    expect(cholesky(lowerOnly, n, out)).toBe(out);
    same(out, refCholesky(h, n));
    same(upperCholeskyOfInverse(lowerOnly, n), refUpperCholeskyOfInverse(h, n));
  });

  it('throws at the same pivot as the reference', () => {
    const n = 21;
    const h = hessian(n, 40, 9);
    h[13 * n + 13] = -1;
    const pivot = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as NotPositiveDefiniteError).pivot;
      }
      return -1;
    };
    expect(pivot(() => cholesky(h, n))).toBe(13);
    expect(pivot(() => refCholesky(h, n))).toBe(13);
  });

  it('a lower-triangular matrix with zeros inside (skipped terms) still matches', () => {
    const n = 23;
    const l = new Float64Array(n * n);
    const r = normal(n * n, 5);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) l[i * n + j] = i === j ? 1 + Math.abs(r[i * n + j]!) : (i + j) % 5 === 0 ? 0 : r[i * n + j]!;
    same(invertLower(l, n), refInvertLower(l, n));
  });
});
