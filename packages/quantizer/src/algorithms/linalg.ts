/**
 * Small dense linear algebra on row-major Float64Arrays (n × n), enough for
 * GPTQ: Cholesky factorisation, triangular inverse, and the upper Cholesky
 * factor of a matrix's inverse.
 *
 * Sized for 7B-class Hessians (n = 11008: 970 MB per matrix, n³/6 ≈ 2.2·10¹¹
 * multiply-adds per step), so the loops are cache-blocked and keep several
 * independent accumulators, but every output element is still the SAME
 * sequence of floating-point operations as the textbook loops (each sum runs
 * over k in ascending order from the same start value, zero terms skipped where
 * the textbook loop skipped them): results are bit-identical to the plain
 * algorithms (see linalg.test.ts), only memory traffic and dependency chains change.
 */

/** Thrown when a matrix that must be positive definite is not (callers add damping and retry). */
export class NotPositiveDefiniteError extends Error {
  constructor(readonly pivot: number) {
    super(`matrix is not positive definite (pivot ${pivot})`);
  }
}

/** Columns of L computed together (each row prefix is read once per panel instead of once per column). */
const PANEL = 8;

/**
 * Lower Cholesky factor L (row-major, upper part zero) with A = L Lᵀ. Reads
 * the lower triangle of `a` only. `out` (n × n, upper part zero) receives L
 * when given; it may not be `a`.
 *
 * L_ij = (A_ij − Σ_{k<j} L_ik L_jk) / L_jj, the sum in ascending k. Columns are
 * processed in panels of PANEL: the part of each sum over k below the panel is
 * computed for all the panel's columns in one pass over the rows, the rest
 * column by column, which keeps every sum's order.
 */
export function cholesky(a: Float64Array, n: number, out?: Float64Array): Float64Array {
  const l = out ?? new Float64Array(n * n);
  if (l === a) throw new RangeError('cholesky: out must not alias a');
  // s[(i − j0)·PANEL + (j − j0)]: partial sums of rows i ≥ j0 for the panel's columns j.
  const s = new Float64Array(n * PANEL);
  for (let j0 = 0; j0 < n; j0 += PANEL) {
    const j1 = Math.min(j0 + PANEL, n);
    // 1. s_ij = A_ij − Σ_{k<j0} L_ik L_jk for i ≥ j0, j in [j0, min(j1, i + 1)).
    for (let i = j0; i < n; i++) {
      const ri = i * n;
      const si = (i - j0) * PANEL;
      const jm = Math.min(j1, i + 1);
      let jj = j0;
      for (; jj + 3 < jm; jj += 4) {
        const r0 = jj * n;
        const r1 = r0 + n;
        const r2 = r1 + n;
        const r3 = r2 + n;
        let s0 = a[ri + jj]!;
        let s1 = a[ri + jj + 1]!;
        let s2 = a[ri + jj + 2]!;
        let s3 = a[ri + jj + 3]!;
        for (let k = 0; k < j0; k++) {
          const x = l[ri + k]!;
          s0 -= x * l[r0 + k]!;
          s1 -= x * l[r1 + k]!;
          s2 -= x * l[r2 + k]!;
          s3 -= x * l[r3 + k]!;
        }
        s[si + jj - j0] = s0;
        s[si + jj - j0 + 1] = s1;
        s[si + jj - j0 + 2] = s2;
        s[si + jj - j0 + 3] = s3;
      }
      for (; jj < jm; jj++) {
        const rj = jj * n;
        let s0 = a[ri + jj]!;
        for (let k = 0; k < j0; k++) s0 -= l[ri + k]! * l[rj + k]!;
        s[si + jj - j0] = s0;
      }
    }
    // 2. Column by column inside the panel: the terms k in [j0, j).
    for (let j = j0; j < j1; j++) {
      const rj = j * n;
      const c = j - j0;
      let d = s[(j - j0) * PANEL + c]!;
      for (let k = j0; k < j; k++) d -= l[rj + k]! * l[rj + k]!;
      if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefiniteError(j);
      const ljj = Math.sqrt(d);
      l[rj + j] = ljj;
      if (j === j0) {
        for (let i = j + 1; i < n; i++) l[i * n + j] = s[(i - j0) * PANEL + c]! / ljj;
      } else {
        for (let i = j + 1; i < n; i++) {
          const ri = i * n;
          let v = s[(i - j0) * PANEL + c]!;
          for (let k = j0; k < j; k++) v -= l[ri + k]! * l[rj + k]!;
          l[ri + j] = v / ljj;
        }
      }
    }
  }
  return l;
}

/**
 * Inverse of a lower-triangular matrix (forward substitution):
 * (L⁻¹)_ij = −(Σ_{k=j}^{i−1} L_ik (L⁻¹)_kj) / L_ii, the sum in ascending k.
 * Row i is accumulated as a combination of the rows above it (contiguous
 * access; the same operation order per element). With `inPlace` the result
 * overwrites `l` (row i of L is not needed once row i of L⁻¹ is known).
 */
export function invertLower(l: Float64Array, n: number, inPlace = false): Float64Array {
  const inv = inPlace ? l : new Float64Array(n * n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    s.fill(0, 0, i);
    // s_j += L_ik · inv_kj for k ascending, every j ≤ k (inv_kj = 0 above the diagonal).
    let k = 0;
    for (; k + 3 < i; k += 4) {
      const x0 = l[ri + k]!;
      const x1 = l[ri + k + 1]!;
      const x2 = l[ri + k + 2]!;
      const x3 = l[ri + k + 3]!;
      const r0 = k * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      // j ≤ k: all four rows contribute, in order k, k+1, k+2, k+3.
      for (let j = 0; j <= k; j++) s[j] = s[j]! + x0 * inv[r0 + j]! + x1 * inv[r1 + j]! + x2 * inv[r2 + j]! + x3 * inv[r3 + j]!;
      // j = k+1..k+3: only the rows at or below j.
      s[k + 1] = s[k + 1]! + x1 * inv[r1 + k + 1]! + x2 * inv[r2 + k + 1]! + x3 * inv[r3 + k + 1]!;
      s[k + 2] = s[k + 2]! + x2 * inv[r2 + k + 2]! + x3 * inv[r3 + k + 2]!;
      s[k + 3] = s[k + 3]! + x3 * inv[r3 + k + 3]!;
    }
    for (; k < i; k++) {
      const x = l[ri + k]!;
      const rk = k * n;
      for (let j = 0; j <= k; j++) s[j] = s[j]! + x * inv[rk + j]!;
    }
    const lii = l[ri + i]!;
    for (let j = 0; j < i; j++) inv[ri + j] = -s[j]! / lii;
    inv[ri + i] = 1 / lii;
  }
  return inv;
}

/** Rows of L⁻¹ combined per pass over A⁻¹ in upperCholeskyOfInverse's product. */
const KB = 8;

/**
 * Upper Cholesky factor U of A⁻¹ (A⁻¹ = Uᵀ U), as GPTQ uses it:
 * `torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)`.
 * Reads the lower triangle of `a`. Peak memory: two n × n buffers besides `a`.
 */
export function upperCholeskyOfInverse(a: Float64Array, n: number): Float64Array {
  const li = invertLower(cholesky(a, n), n, true); // L⁻¹, lower
  // A⁻¹ = L⁻ᵀ L⁻¹: (A⁻¹)_ij = Σ_k li[k][i] li[k][j] over k ≥ max(i, j) in ascending order,
  // terms with li[k][i] = 0 skipped. Lower triangle only (all the Cholesky below reads).
  const ainv = new Float64Array(n * n);
  const rs = new Int32Array(KB);
  const vs = new Float64Array(KB);
  for (let k0 = 0; k0 < n; k0 += KB) {
    const k1 = Math.min(k0 + KB, n);
    // Rows k0..k1−1 of L⁻¹ together: element (i, j), j ≤ i, gets the terms of rows k ≥ i, ascending.
    for (let i = 0; i < k1; i++) {
      const ri = i * n;
      let m = 0;
      for (let k = Math.max(k0, i); k < k1; k++) {
        const v = li[k * n + i]!;
        if (v === 0) continue;
        rs[m] = k * n;
        vs[m] = v;
        m++;
      }
      if (m === 8) {
        const r0 = rs[0]!, r1 = rs[1]!, r2 = rs[2]!, r3 = rs[3]!, r4 = rs[4]!, r5 = rs[5]!, r6 = rs[6]!, r7 = rs[7]!;
        const v0 = vs[0]!, v1 = vs[1]!, v2 = vs[2]!, v3 = vs[3]!, v4 = vs[4]!, v5 = vs[5]!, v6 = vs[6]!, v7 = vs[7]!;
        for (let j = 0; j <= i; j++) {
          ainv[ri + j] =
            ainv[ri + j]! +
            v0 * li[r0 + j]! +
            v1 * li[r1 + j]! +
            v2 * li[r2 + j]! +
            v3 * li[r3 + j]! +
            v4 * li[r4 + j]! +
            v5 * li[r5 + j]! +
            v6 * li[r6 + j]! +
            v7 * li[r7 + j]!;
        }
      } else {
        for (let t = 0; t < m; t++) {
          const v = vs[t]!;
          const rk = rs[t]!;
          for (let j = 0; j <= i; j++) ainv[ri + j] += v * li[rk + j]!;
        }
      }
    }
  }
  // M = chol(A⁻¹) into li's buffer (no longer needed), then U = Mᵀ into ainv's (every element written).
  li.fill(0);
  const m = cholesky(ainv, n, li);
  const u = ainv;
  const T = 64;
  for (let i0 = 0; i0 < n; i0 += T) {
    const i1 = Math.min(i0 + T, n);
    for (let j0 = 0; j0 < n; j0 += T) {
      const j1 = Math.min(j0 + T, n);
      for (let i = i0; i < i1; i++) {
        const ri = i * n;
        for (let j = j0; j < j1; j++) u[ri + j] = j >= i ? m[j * n + i]! : 0;
      }
    }
  }
  return u;
}
