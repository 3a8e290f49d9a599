/** Small host-side numeric helpers (float64 accumulation). */

/** out = x / sqrt(mean(x²) + eps) * w for one row of x starting at `offset`. */
export function rmsNormRow(x: Float32Array, offset: number, dim: number, w: Float32Array, eps: number, out: Float32Array = new Float32Array(dim)): Float32Array {
  let ss = 0;
  for (let i = 0; i < dim; i++) ss += x[offset + i]! * x[offset + i]!;
  const s = 1 / Math.sqrt(ss / dim + eps);
  for (let i = 0; i < dim; i++) out[i] = x[offset + i]! * s * w[i]!;
  return out;
}

/** Dot product of row `row` of a row-major matrix [*, dim] with v. */
export function dotRow(m: Float32Array, row: number, dim: number, v: Float32Array): number {
  let s = 0;
  const base = row * dim;
  for (let i = 0; i < dim; i++) s += m[base + i]! * v[i]!;
  return s;
}

/** y = W x (+ b), W [n, k] row-major. */
export function matVec(w: Float32Array, n: number, k: number, x: Float32Array, b?: Float32Array | null, out: Float32Array = new Float32Array(n)): Float32Array {
  for (let r = 0; r < n; r++) out[r] = dotRow(w, r, k, x) + (b ? b[r]! : 0);
  return out;
}

/** Softmax of a small vector (float64 sums). */
export function softmax(x: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > m) m = x[i]!;
  const e = Array.from({ length: x.length }, (_, i) => Math.exp(x[i]! - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Indices of the k largest values, descending (lower index first on ties). */
export function topK(x: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (best.length === k && !(v > x[best[k - 1]!]!)) continue;
    let j = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push(i);
    while (j > 0 && v > x[best[j - 1]!]!) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}

/** Argmax and log-sum-exp of row `row` of x [*, n]; NaN counts as -Infinity. */
export function rowStats(x: Float32Array, row: number, n: number): { argmax: number; lse: number } {
  const base = row * n;
  let m = -Infinity;
  let arg = 0;
  for (let i = 0; i < n; i++) {
    const v = x[base + i]!;
    if (v > m) {
      m = v;
      arg = i;
    }
  }
  let s = 0;
  for (let i = 0; i < n; i++) {
    const v = x[base + i]!;
    if (v === v) s += Math.exp(v - m);
  }
  return { argmax: arg, lse: m + Math.log(s) };
}

/** Deterministic 32-bit generator (mulberry32) for shuffling and initialisation. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}
