/**
 * Small dense linear algebra on row-major Float64Arrays (n × n), enough for
 * GPTQ: Cholesky factorisation, triangular inverse, and the upper Cholesky
 * factor of a matrix's inverse.
 */

/** Thrown when a matrix that must be positive definite is not (callers add damping and retry). */
export class NotPositiveDefiniteError extends Error {
  constructor(readonly pivot: number) {
    super(`matrix is not positive definite (pivot ${pivot})`);
  }
}

/** Lower Cholesky factor L (row-major, upper part zero) with A = L Lᵀ. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= l[rj + k]! * l[rj + k]!;
    if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefiniteError(j);
    const ljj = Math.sqrt(d);
    l[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= l[ri + k]! * l[rj + k]!;
      l[ri + j] = s / ljj;
    }
  }
  return l;
}

/** Inverse of a lower-triangular matrix (forward substitution, column by column). */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    inv[ri + i] = 1 / l[ri + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[ri + k]! * inv[k * n + j]!;
      inv[ri + j] = -s / l[ri + i]!;
    }
  }
  return inv;
}

/**
 * Upper Cholesky factor U of A⁻¹ (A⁻¹ = Uᵀ U), as GPTQ uses it:
 * `torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)`.
 */
export function upperCholeskyOfInverse(a: Float64Array, n: number): Float64Array {
  const li = invertLower(cholesky(a, n), n); // L⁻¹, lower
  // A⁻¹ = L⁻ᵀ L⁻¹: (A⁻¹)_ij = Σ_k li[k][i] li[k][j], k ≥ max(i, j)
  const ainv = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const v = li[rk + i]!;
      if (v === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) ainv[ri + j] += v * li[rk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) ainv[j * n + i] = ainv[i * n + j]!;
  const m = cholesky(ainv, n); // A⁻¹ = M Mᵀ, U = Mᵀ
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) u[j * n + i] = m[i * n + j]!;
  return u;
}
