/**
 * matmul: out[t][o] = sum_k W[o][k] * x[t][k] (+ bias[o]).
 * W is [N, K] row-major (PyTorch order), x is n rows of K, out is n rows of N.
 */
export function matmul(
  x: ArrayLike<number>,
  n: number,
  w: ArrayLike<number>,
  outFeatures: number,
  inFeatures: number,
  bias?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(n * outFeatures);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < outFeatures; o++) {
      let acc = 0;
      for (let k = 0; k < inFeatures; k++) acc += w[o * inFeatures + k] * x[t * inFeatures + k];
      out[t * outFeatures + o] = bias ? acc + bias[o] : acc;
    }
  }
  return out;
}
