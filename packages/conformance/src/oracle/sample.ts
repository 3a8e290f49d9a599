import type { SamplingParams } from '@bitexit/backend';
import { argmax } from './rows.js';

/**
 * The distribution the `sample` op draws from, in the order the inverse CDF
 * walks it. The conformance suite pins down these semantics (program.ts lists
 * the steps; the order of candidates is fixed here):
 *
 * 1. Repetition penalty (llama.cpp): every distinct id among the first
 *    `historyLength` entries of the history (ids outside the vocabulary are
 *    ignored) has its logit divided by the penalty if positive, multiplied by
 *    it otherwise. Applied once per distinct id.
 * 2. temperature <= 0: greedy, the argmax of the penalised logits (lowest
 *    index on ties); nothing else applies.
 * 3. Logits are divided by the temperature; candidates are sorted by logit,
 *    descending, lower index first on ties.
 * 4. top-k (k > 0): keep the first k candidates.
 * 5. top-p (p < 1): softmax over the survivors; keep the shortest prefix whose
 *    cumulative probability reaches p (at least one candidate).
 * 6. min-p (m > 0): keep candidates with probability >= m * the largest probability.
 * 7. Renormalise and return the first candidate whose cumulative probability
 *    exceeds `uniform` (the last candidate if rounding leaves none).
 */
export type SampleDistribution = { kind: 'greedy'; token: number } | { kind: 'random'; ids: number[]; probs: number[] };

export function sampleDistribution(
  logitsIn: ArrayLike<number>,
  vocab: number,
  params: SamplingParams,
  history: ArrayLike<number>,
): SampleDistribution {
  const logits = Float64Array.from({ length: vocab }, (_, i) => logitsIn[i]);
  if (params.repetitionPenalty !== 1) {
    const seen = new Set<number>();
    const count = Math.min(params.historyLength, history.length);
    for (let i = 0; i < count; i++) {
      const id = history[i];
      if (id < 0 || id >= vocab || seen.has(id)) continue;
      seen.add(id);
      logits[id] = logits[id] > 0 ? logits[id] / params.repetitionPenalty : logits[id] * params.repetitionPenalty;
    }
  }
  if (!(params.temperature > 0)) return { kind: 'greedy', token: argmax(logits, vocab) };

  let ids = Array.from({ length: vocab }, (_, i) => i);
  const scaled = logits.map((l) => l / params.temperature);
  ids.sort((a, b) => scaled[b] - scaled[a] || a - b);
  if (params.topK > 0 && params.topK < ids.length) ids = ids.slice(0, params.topK);

  const softmax = (cands: number[]): number[] => {
    const max = scaled[cands[0]];
    const e = cands.map((i) => Math.exp(scaled[i] - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  };
  let probs = softmax(ids);
  if (params.topP < 1) {
    let cum = 0;
    let keep = ids.length;
    for (let i = 0; i < ids.length; i++) {
      cum += probs[i];
      if (cum >= params.topP) {
        keep = i + 1;
        break;
      }
    }
    ids = ids.slice(0, keep);
    probs = softmax(ids);
  }
  if (params.minP > 0) {
    const threshold = params.minP * probs[0];
    const kept = ids.filter((_, i) => probs[i] >= threshold);
    ids = kept.length > 0 ? kept : ids.slice(0, 1);
    probs = softmax(ids);
  }
  return { kind: 'random', ids, probs };
}

/** The token the `sample` op must return. */
export function sample(logits: ArrayLike<number>, vocab: number, params: SamplingParams, history: ArrayLike<number>): number {
  const d = sampleDistribution(logits, vocab, params, history);
  if (d.kind === 'greedy') return d.token;
  let cum = 0;
  for (let i = 0; i < d.ids.length; i++) {
    cum += d.probs[i];
    if (params.uniform < cum) return d.ids[i];
  }
  return d.ids[d.ids.length - 1];
}
