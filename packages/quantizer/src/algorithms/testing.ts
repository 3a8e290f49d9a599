/** Deterministic test data (xorshift32). */
export function rng(seed = 1): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Approximately standard normal samples (Box–Muller). */
export function normal(n: number, seed = 1, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/**
 * Correlated activations X [n, k] (a random mixing of independent sources,
 * with a few loud channels) and H = 2XᵀX/n.
 */
export function activations(n: number, k: number, seed = 7): { x: Float32Array; h: Float64Array } {
  const z = normal(n * k, seed);
  const mix = normal(k * k, seed + 1, 1 / Math.sqrt(k));
  const x = new Float32Array(n * k);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      let s = z[t * k + j]!;
      for (let i = 0; i < k; i++) s += z[t * k + i]! * mix[i * k + j]!;
      x[t * k + j] = s * (j % 7 === 0 ? 4 : 1);
    }
  }
  return { x, h: hessianOf(x, n, k) };
}

export function hessianOf(x: Float32Array, n: number, k: number): Float64Array {
  const h = new Float64Array(k * k);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < k; i++) {
      const xi = x[t * k + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < k; j++) h[i * k + j] += xi * x[t * k + j]!;
    }
  }
  for (let i = 0; i < k * k; i++) h[i] = (2 * h[i]!) / n;
  return h;
}

/** Σ over tokens and outputs of (W x − Ŵ x)². */
export function outputError(w: Float32Array, wq: Float32Array, rows: number, cols: number, x: Float32Array, n: number): number {
  let e = 0;
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let c = 0; c < cols; c++) d += (w[r * cols + c]! - wq[r * cols + c]!) * x[t * cols + c]!;
      e += d * d;
    }
  }
  return e;
}
