/** rmsnorm: out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, for each of the n rows of width `cols`. */
export function rmsnorm(x: ArrayLike<number>, n: number, cols: number, weight: ArrayLike<number>, eps: number): Float64Array {
  const out = new Float64Array(n * cols);
  for (let t = 0; t < n; t++) {
    let sumSq = 0;
    for (let c = 0; c < cols; c++) sumSq += x[t * cols + c] * x[t * cols + c];
    const inv = 1 / Math.sqrt(sumSq / cols + eps);
    for (let c = 0; c < cols; c++) out[t * cols + c] = x[t * cols + c] * inv * weight[c];
  }
  return out;
}
