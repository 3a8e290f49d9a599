/**
 * sample: picks a token from logits[0] with the run's SamplingParams, exactly
 * as the 'sample' op's comment in @bitexit/backend specifies:
 * 1. repetitionPenalty != 1: each DISTINCT id among history[0..historyLength)
 *    (ids outside the vocabulary ignored) gets logit > 0 ? logit / penalty
 *    : logit * penalty (rounded to f32);
 * 2. temperature <= 0: argmax (lowest index on ties);
 * 3. otherwise logits / temperature (rounded to f32), candidates sorted by
 *    logit descending (ties: lower index first); topK > 0 keeps the first
 *    topK; softmax over the kept ones (float64); topP < 1 keeps the smallest
 *    prefix whose cumulative probability >= topP (at least one); minP > 0
 *    keeps the candidates with p >= minP * pmax (at least one); renormalise;
 *    return the first candidate whose cumulative probability > uniform (the
 *    last kept candidate when rounding leaves none).
 * NaN logits count as -Infinity.
 */
import { InvalidProgramError, validateSamplingParams, type SamplingParams } from '@bitexit/backend';
import { argmaxOf } from './argmax.js';
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

const fround = Math.fround;

/** Scratch for `sampleLogits`, sized for a vocabulary. */
export interface SampleScratch {
  logits: Float32Array;
  order: Int32Array;
  probs: Float64Array;
  seen: Uint8Array;
}

export function createSampleScratch(vocab: number): SampleScratch {
  return {
    logits: new Float32Array(vocab),
    order: new Int32Array(vocab),
    probs: new Float64Array(vocab),
    seen: new Uint8Array(vocab),
  };
}

/** True when candidate a ranks before candidate b (higher logit, then lower index). */
function before(l: Float32Array, a: number, b: number): boolean {
  const la = l[a];
  const lb = l[b];
  return la > lb || (la === lb && a < b);
}

/** Writes the `k` best candidates (best first) into order[0..k), via a heap on the worst kept. */
function selectTopK(l: Float32Array, V: number, k: number, order: Int32Array): void {
  // order[0..k) is a heap whose root is the WORST kept candidate.
  for (let i = 0; i < k; i++) {
    order[i] = i;
    siftUp(l, order, i);
  }
  for (let i = k; i < V; i++) {
    if (before(l, i, order[0])) {
      order[0] = i;
      siftDown(l, order, 0, k);
    }
  }
  // Heap sort: repeatedly move the worst to the end → best first.
  for (let end = k - 1; end > 0; end--) {
    const w = order[0];
    order[0] = order[end];
    order[end] = w;
    siftDown(l, order, 0, end);
  }
}

function siftUp(l: Float32Array, h: Int32Array, i: number): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    // Parent must be worse than (rank after) the child.
    if (before(l, h[i], h[p])) return;
    const t = h[i];
    h[i] = h[p];
    h[p] = t;
    i = p;
  }
}

function siftDown(l: Float32Array, h: Int32Array, i: number, size: number): void {
  for (;;) {
    const a = 2 * i + 1;
    if (a >= size) return;
    const b = a + 1;
    // Pick the worse child.
    let c = a;
    if (b < size && before(l, h[a], h[b])) c = b;
    if (before(l, h[c], h[i])) return;
    const t = h[i];
    h[i] = h[c];
    h[c] = t;
    i = c;
  }
}


/**
 * Samples one token from `logits[offset..offset+V)`. `history` holds the
 * recent ids (first `p.historyLength` are used). Pure function of its inputs.
 */
export function sampleLogits(
  logits: Float32Array,
  offset: number,
  V: number,
  history: Int32Array,
  p: SamplingParams,
  scratch: SampleScratch,
): number {
  const l = scratch.logits;
  for (let i = 0; i < V; i++) {
    const x = logits[offset + i];
    l[i] = x === x ? x : -Infinity;
  }
  const penalty = p.repetitionPenalty;
  if (penalty !== 1 && p.historyLength > 0) {
    const seen = scratch.seen;
    const hl = p.historyLength;
    for (let k = 0; k < hl; k++) {
      const id = history[k];
      if (id >= 0 && id < V && seen[id] === 0) {
        seen[id] = 1;
        const x = l[id];
        l[id] = x > 0 ? fround(x / penalty) : fround(x * penalty);
      }
    }
    for (let k = 0; k < hl; k++) {
      const id = history[k];
      if (id >= 0 && id < V) seen[id] = 0;
    }
  }
  if (!(p.temperature > 0)) return argmaxOf(l, 0, V);

  const temp = p.temperature;
  for (let i = 0; i < V; i++) l[i] = fround(l[i] / temp);

  const order = scratch.order;
  let m = V;
  if (p.topK > 0 && p.topK < V) {
    m = p.topK;
    selectTopK(l, V, m, order);
  } else {
    for (let i = 0; i < V; i++) order[i] = i;
    order.sort((a, b) => (l[b] - l[a]) || a - b);
  }
  const top = l[order[0]];
  if (top === -Infinity) return order[0];

  const probs = scratch.probs;
  let sum = 0;
  for (let i = 0; i < m; i++) {
    const e = Math.exp(l[order[i]] - top);
    probs[i] = e;
    sum += e;
  }
  for (let i = 0; i < m; i++) probs[i] /= sum;

  if (p.topP < 1) {
    let cum = 0;
    let keep = m;
    for (let i = 0; i < m; i++) {
      cum += probs[i];
      if (cum >= p.topP) {
        keep = i + 1;
        break;
      }
    }
    m = keep;
  }
  if (p.minP > 0) {
    const threshold = p.minP * probs[0];
    let keep = 1;
    while (keep < m && probs[keep] >= threshold) keep++;
    m = keep;
  }
  let total = 0;
  for (let i = 0; i < m; i++) total += probs[i];
  const u = p.uniform;
  let cum = 0;
  for (let i = 0; i < m; i++) {
    cum += probs[i] / total;
    if (cum > u) return order[i];
  }
  return order[m - 1];
}

function compileSample(op: OpOf<'sample'>, ctx: KernelContext): KernelStep {
  const logits = ctx.f32(op.logits);
  const history = ctx.i32(op.history);
  const out = ctx.i32(op.out);
  const V = op.logits.shape[1];
  const scratch = createSampleScratch(V);
  ctx.account(V * (4 + 4 + 8 + 1));
  const label = ctx.label;
  return (s) => {
    const p = s.sampling;
    if (!p) throw new InvalidProgramError(`program '${label}': the sample op needs RunParams.sampling`);
    validateSamplingParams(label, p, history.length);
    out[0] = sampleLogits(logits, 0, V, history, p, scratch);
  };
}

export const sampleKernel: CpuKernel<'sample'> = { kind: 'sample', fn: compileSample };
