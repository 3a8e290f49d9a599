/**
 * SpecEE exit check in float64 (see `exit_check` in @bitexit/backend's program.ts).
 * Returns what the op does to its buffers; the caller applies it.
 */
export interface ExitCheckResult {
  /** The predictor's output (sigmoid). */
  score: number;
  /** The new softmax over the draft logits (written to probs). */
  probs: Float64Array;
  /** Full LM-head logits when the predictor fired, else null. */
  logits: Float64Array | null;
  /** (token, layer) when the token exits, else null. */
  exit: [number, number] | null;
}

export function exitCheck(
  x: ArrayLike<number>,
  row: number,
  dim: number,
  norm: ArrayLike<number>,
  eps: number,
  lmHead: ArrayLike<number>,
  vocab: number,
  drafts: ArrayLike<number>,
  prevProbs: ArrayLike<number>,
  up: ArrayLike<number>,
  upBias: ArrayLike<number>,
  down: ArrayLike<number>,
  downBias: number,
  threshold: number,
  layer: number,
): ExitCheckResult {
  const k = drafts.length;
  let ss = 0;
  for (let j = 0; j < dim; j++) ss += x[row * dim + j] ** 2;
  const inv = 1 / Math.sqrt(ss / dim + eps);
  const h = new Float64Array(dim);
  for (let j = 0; j < dim; j++) h[j] = x[row * dim + j] * inv * norm[j];
  const dot = (r: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += lmHead[r * dim + j] * h[j];
    return s;
  };
  const z = Array.from({ length: k }, (_, j) => (drafts[j] >= 0 && drafts[j] < vocab ? dot(drafts[j]) : -Infinity));
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const probs = Float64Array.from(e, (v) => v / sum);
  const f = [...z, ...probs, ...Array.from(probs, (p, j) => p - prevProbs[j])];
  let o = downBias;
  for (let u = 0; u < upBias.length; u++) {
    let a = upBias[u];
    for (let j = 0; j < 3 * k; j++) a += up[u * 3 * k + j] * f[j];
    o += down[u] * Math.max(0, a);
  }
  const score = 1 / (1 + Math.exp(-o));
  if (!(score > threshold)) return { score, probs, logits: null, exit: null };
  const logits = new Float64Array(vocab);
  let best = 0;
  for (let r = 0; r < vocab; r++) {
    logits[r] = dot(r);
    if (logits[r] > logits[best]) best = r;
  }
  const hit = Array.from(drafts).includes(best);
  return { score, probs, logits, exit: hit ? [best, layer] : null };
}
