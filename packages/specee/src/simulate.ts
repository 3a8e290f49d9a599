import type { ModelConfig } from '@bitexit/engine';
import type { Trace } from './collect.js';
import { hasDrafts } from './collect.js';
import { SpeceeOptionError } from './errors.js';
import { exitFeatures, type ExitPredictor } from './predictor.js';
import { ExitScheduler, type OnlineOptions } from './schedule.js';

export interface SimulateOptions {
  /** Predictor output must exceed this. Default 0.5. */
  threshold?: number;
  /** Offline layer set (layers without a predictor are skipped even when active). */
  offline: readonly number[];
  online?: OnlineOptions;
  /** Disable online scheduling (offline set only). */
  onlineScheduling?: boolean;
  /** Scheduler carried over from earlier texts of the session (history persists); a new one otherwise. */
  scheduler?: ExitScheduler;
  /** For the FLOPs estimate. */
  config?: Pick<ModelConfig, 'dim' | 'nHeads' | 'nKvHeads' | 'headDim' | 'ffnDim' | 'vocabSize'>;
}

export interface SimulationResult {
  tokens: number;
  nLayers: number;
  /** Mean layers executed per token (exit layer + 1). */
  layersMean: number;
  layersFraction: number;
  /** Fraction of tokens whose emitted token equals the full-depth argmax. */
  agreement: number;
  pplFull: number;
  pplExit: number;
  /** Tokens per exit layer; the last entry counts full-depth tokens. */
  histogram: number[];
  /** Predictor evaluations and full-LM-head evaluations (fired predictors) per token. */
  predictorCallsPerToken: number;
  lmHeadCallsPerToken: number;
  /** Tokens that had k drafts (only these can exit). */
  draftedTokens: number;
  /** Tokens whose final argmax is among the drafts. */
  draftHitRate: number;
  flops: { perTokenFull: number; perTokenExit: number; predictorOverhead: number; overheadFraction: number; ratio: number } | null;
  /** Exit layer of each token (nLayers−1 = full depth). */
  exits: Int32Array;
}

/**
 * What SpecEE does on each token of a teacher-forced trace: walk the active
 * layers (scheduler) that carry a predictor, build the 3k features (softmax
 * change relative to the previous EVALUATED layer), and exit at the first
 * layer whose predictor output exceeds the threshold AND whose full-LM-head
 * argmax is among the k draft tokens; the emitted token is that argmax.
 * Otherwise the token runs full depth. Perplexity with exit scores the text
 * token with the exit layer's full logits.
 */
export function simulateExits(trace: Trace, predictors: ReadonlyMap<number, ExitPredictor>, options: SimulateOptions): SimulationResult {
  const { nLayers: L, k } = trace;
  const threshold = options.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw new SpeceeOptionError(`threshold must be in [0, 1], got ${threshold}`);
  for (const p of predictors.values()) if (p.k !== k) throw new SpeceeOptionError(`predictors take k = ${p.k} drafts, the trace has k = ${k}`);
  const sched = options.scheduler ?? new ExitScheduler(L, options.offline, options.online);
  const online = options.onlineScheduling ?? true;
  const histogram = new Array<number>(L).fill(0);
  const exits = new Int32Array(trace.rows);
  let agree = 0;
  let nllFull = 0;
  let nllExit = 0;
  let layers = 0;
  let predCalls = 0;
  let headCalls = 0;
  let drafted = 0;
  let hits = 0;
  let predFlops = 0;
  for (let r = 0; r < trace.rows; r++) {
    const final = trace.argmax[r * L + L - 1]!;
    let exit = L - 1;
    const drafts = trace.drafts.subarray(r * k, r * k + k);
    if (hasDrafts(trace, r)) {
      drafted++;
      if (drafts.includes(final)) hits++;
      const active = online ? sched.active() : [...sched.offline];
      let prev: number[] | null = null;
      for (const layer of active) {
        const p = predictors.get(layer);
        if (!p || layer >= L - 1) continue;
        const { features, probs } = exitFeatures(trace.draftLogits.subarray((r * L + layer) * k, (r * L + layer + 1) * k), prev);
        prev = probs;
        predCalls++;
        predFlops += p.flops + 2 * k * trace.dim;
        if (p.forward(features) > threshold) {
          headCalls++;
          if (drafts.includes(trace.argmax[r * L + layer]!)) {
            exit = layer;
            break;
          }
        }
      }
    }
    if (online) sched.record(exit);
    exits[r] = exit;
    histogram[exit]!++;
    layers += exit + 1;
    if (trace.argmax[r * L + exit] === final) agree++;
    nllFull -= trace.logprob[r * L + L - 1]!;
    nllExit -= trace.logprob[r * L + exit]!;
  }
  const n = trace.rows;
  let flops: SimulationResult['flops'] = null;
  if (options.config && n > 0) {
    const c = options.config;
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    const layer = 2 * (c.dim * q + 2 * c.dim * kv + q * c.dim + 3 * c.dim * c.ffnDim);
    const head = 2 * c.vocabSize * c.dim;
    const full = L * layer + head;
    const overhead = (predFlops + headCalls * head) / n;
    // The LM head of the exit layer is one of the fired evaluations; a full-depth token still pays the final head.
    const exitCost = (layers / n) * layer + overhead + ((n - (histogram.slice(0, L - 1).reduce((a, b) => a + b, 0))) / n) * head;
    flops = { perTokenFull: full, perTokenExit: exitCost, predictorOverhead: overhead, overheadFraction: overhead / full, ratio: exitCost / full };
  }
  return {
    tokens: n,
    nLayers: L,
    layersMean: n ? layers / n : 0,
    layersFraction: n ? layers / n / L : 0,
    agreement: n ? agree / n : 0,
    pplFull: Math.exp(n ? nllFull / n : 0),
    pplExit: Math.exp(n ? nllExit / n : 0),
    histogram,
    predictorCallsPerToken: n ? predCalls / n : 0,
    lmHeadCallsPerToken: n ? headCalls / n : 0,
    draftedTokens: drafted,
    draftHitRate: drafted ? hits / drafted : 0,
    flops,
    exits,
  };
}
