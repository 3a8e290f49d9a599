/**
 * kv_store: cache[pos + t] = src[t] for t < n (cache rows are `cols` wide).
 * Mutates `cache` in place.
 */
export function kvStore(cache: Float64Array, src: ArrayLike<number>, n: number, pos: number, cols: number, cacheRows: number): void {
  if (pos + n > cacheRows) throw new RangeError(`oracle kv_store: rows ${pos}..${pos + n - 1} past cache of ${cacheRows}`);
  for (let t = 0; t < n; t++) for (let c = 0; c < cols; c++) cache[(pos + t) * cols + c] = src[t * cols + c];
}

/**
 * Causal grouped-query attention. Query row t sits at position pos + t and
 * attends to cache rows 0..pos+t. Query head h reads kv head
 * floor(h * kvHeads / heads). Scores are q·k * scale, softmax is computed with
 * the maximum subtracted (exact in float64 for any finite scores), and the
 * output is the probability-weighted sum of the value rows.
 */
export function attention(
  q: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  n: number,
  pos: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  scale: number,
  /** Cache rows to leave out (the SpecEE `mask` KV policy). */
  masked?: (position: number) => boolean,
): Float64Array {
  const qWidth = heads * headDim;
  const kvWidth = kvHeads * headDim;
  const out = new Float64Array(n * qWidth);
  for (let t = 0; t < n; t++) {
    const last = pos + t;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor((h * kvHeads) / heads);
      const qBase = t * qWidth + h * headDim;
      const scores = new Float64Array(last + 1);
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        if (masked?.(j)) {
          scores[j] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qBase + d] * kCache[j * kvWidth + kvh * headDim + d];
        scores[j] = dot * scale;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let j = 0; j <= last; j++) acc += scores[j] * vCache[j * kvWidth + kvh * headDim + d];
        out[qBase + d] = acc / sum;
      }
    }
  }
  return out;
}
