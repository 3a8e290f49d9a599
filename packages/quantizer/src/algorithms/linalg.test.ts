import { describe, expect, it } from 'vitest';
import { cholesky, invertLower, NotPositiveDefiniteError, upperCholeskyOfInverse } from './linalg.js';
import { activations } from './testing.js';

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k]! * b[k * n + j]!;
  return c;
}
const transpose = (a: Float64Array, n: number) => {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j]!;
  return t;
};

describe('linalg', () => {
  const n = 12;
  const { h } = activations(64, n, 3);
  for (let i = 0; i < n; i++) h[i * n + i] += 0.01;

  it('cholesky reconstructs A and its triangular inverse is an inverse', () => {
    const l = cholesky(h, n);
    const llt = matmul(l, transpose(l, n), n);
    for (let i = 0; i < n * n; i++) expect(llt[i]).toBeCloseTo(h[i]!, 8);
    const id = matmul(l, invertLower(l, n), n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(id[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 9);
  });

  it('upperCholeskyOfInverse gives an upper U with UᵀU = A⁻¹', () => {
    const u = upperCholeskyOfInverse(h, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
    const prod = matmul(matmul(transpose(u, n), u, n), h, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(prod[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 6);
  });

  it('rejects matrices that are not positive definite', () => {
    const a = Float64Array.from([1, 2, 2, 1]);
    expect(() => cholesky(a, 2)).toThrow(NotPositiveDefiniteError);
  });
});
