/** silu_mul: out = silu(gate) * up with silu(g) = g / (1 + exp(-g)). */
export function siluMul(gate: ArrayLike<number>, up: ArrayLike<number>, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const g = gate[i];
    // g / (1 + e^-g) written so that neither branch overflows in float64.
    const silu = g >= 0 ? g / (1 + Math.exp(-g)) : (g * Math.exp(g)) / (1 + Math.exp(g));
    out[i] = silu * up[i];
  }
  return out;
}

/** add: out = a + b. */
export function add(a: ArrayLike<number>, b: ArrayLike<number>, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = a[i] + b[i];
  return out;
}
