/**
 * `bitexit eval exits`: early exit measured in real decoding through the
 * engine (not simulated): the same text and prompts, with and without exit,
 * in the same run.
 *
 * - Teacher-forced: the text in chunks (BOS + ctx−1 tokens); full depth via
 *   `model.logits`, with exit via `model.scoreWithEarlyExit` (the KV policy's
 *   effects included). Agreement = the exit step's argmax equals the full-depth
 *   argmax; perplexity of the next text token under both.
 * - Free-running: greedy continuations of prompts (the first tokens of each
 *   chunk) with and without exit: identical tokens before the first divergence
 *   and position by position.
 * - Speed: decode tokens/s of those continuations with and without exit; the
 *   predictors' cost as the slowdown of exit decoding whose predictors never
 *   fire (threshold +∞) against plain decoding.
 */
import type { Backend } from '@bitexit/backend';
import { loadModel, openModel, type GenerationResult, type KvPolicy, type Model } from '@bitexit/engine';
import { chunkTokens } from '../collect.js';
import { createEarlyExit } from '../early-exit.js';
import { SpeceeOptionError } from '../errors.js';
import type { ExitsSpec } from '../file.js';
import { openDrafter, type DrafterHandle } from './pipeline.js';

export interface DecodeEvalOptions {
  modelPath: string;
  tokenizerPath?: string;
  exits: ExitsSpec;
  text: string;
  backend: Backend;
  /** Teacher-forced text tokens (default 1024). */
  maxTokens?: number;
  /** Chunk length (default min(256, context)). */
  ctx?: number;
  /** Free-running prompts (default 8) of `promptTokens` (default 16) tokens, each continued for `newTokens` (default 64). */
  prompts?: number;
  promptTokens?: number;
  newTokens?: number;
  thresholds?: number[];
  kvPolicies?: KvPolicy[];
  onProgress?: (p: { stage: string; done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface DecodeEvalRow {
  threshold: number;
  kv_policy: KvPolicy;
  drafter: string;
  n_layers: number;
  tokens: number;
  layers_mean: number;
  layers_fraction: number;
  histogram: number[];
  agreement_teacher_forced: number;
  agreement_free_running: number;
  agreement_free_running_prefix: number;
  ppl_full: number;
  ppl_exit: number;
  decode_tps_full: number;
  decode_tps_exit: number;
  speedup: number;
  free_running_layers_fraction: number;
  /** Share of a full-depth decode step's time spent in the predictors (exit checks that never fire vs plain decoding). */
  predictor_time_share: number;
  /** Share of an exit decode step's time spent in the drafter (host). */
  draft_time_share: number;
  prompts: number;
  new_tokens: number;
}

function argmax(v: Float32Array): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[b]!) b = i;
  return b;
}

function logProb(v: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i]! > max) max = v[i]!;
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += Math.exp(v[i]! - max);
  return v[target]! - max - Math.log(sum);
}

interface Continuations {
  runs: GenerationResult[];
  tps: number;
  decoded: number;
  decodeMs: number;
  layersMean: number;
  draftMs: number;
}

function summarize(model: Model, runs: GenerationResult[]): Continuations {
  let decodeMs = 0;
  let decoded = 0;
  let layers = 0;
  let steps = 0;
  let draftMs = 0;
  for (const r of runs) {
    const n = r.tokens.length - 1;
    if (n > 0 && r.stats.decodeTokensPerSecond > 0) {
      decodeMs += (n * 1000) / r.stats.decodeTokensPerSecond;
      decoded += n;
    }
    if (r.stats.earlyExit) {
      layers += r.stats.earlyExit.layersPerToken * r.stats.earlyExit.steps;
      steps += r.stats.earlyExit.steps;
      draftMs += r.stats.earlyExit.draftMs;
    }
  }
  return { runs, tps: decodeMs > 0 ? (decoded * 1000) / decodeMs : 0, decoded, decodeMs, layersMean: steps ? layers / steps : model.config.nLayers, draftMs };
}

/**
 * Greedy continuations of every prompt without and with exit, interleaved prompt by prompt so both
 * see the same machine load (timings on a shared machine drift over minutes).
 */
async function pairedContinuations(model: Model, prompts: number[][], newTokens: number) {
  const plain: GenerationResult[] = [];
  const exit: GenerationResult[] = [];
  for (const p of prompts) {
    plain.push(await model.generate(p, { temperature: 0, maxTokens: newTokens, earlyExit: false }).result);
    exit.push(await model.generate(p, { temperature: 0, maxTokens: newTokens, earlyExit: true }).result);
  }
  return { plain: summarize(model, plain), exit: summarize(model, exit) };
}

export async function evalExitsDecoding(o: DecodeEvalOptions): Promise<DecodeEvalRow[]> {
  const model = await loadModel(o.modelPath, { backend: o.backend, ...(o.tokenizerPath ? { tokenizerPath: o.tokenizerPath } : {}) });
  const source = await openModel(o.modelPath, o.tokenizerPath ? { tokenizerPath: o.tokenizerPath } : {});
  let handle: DrafterHandle | null = null;
  try {
    const L = model.config.nLayers;
    if (L !== o.exits.nLayers) throw new SpeceeOptionError(`the exits file is for a model of ${o.exits.nLayers} layers, ${o.modelPath} has ${L}`);
    handle = await openDrafter(o.exits.drafter, source, o.backend, { ngram: o.exits.ngram ?? null });
    const tok = model.tokenizer;
    const ids = tok.encode(o.text, { addBos: false });
    const ctx = Math.min(o.ctx ?? 256, model.info.contextLength, 256);
    const seqs = chunkTokens(ids, ctx, o.maxTokens ?? 1024, tok.bosId);
    if (seqs.length === 0) throw new SpeceeOptionError('the text is empty after tokenisation');
    const promptTokens = o.promptTokens ?? 16;
    const newTokens = o.newTokens ?? 64;
    const prompts = seqs.slice(0, o.prompts ?? 8).map((s) => s.slice(0, promptTokens));
    const progress = (stage: string, done: number, total: number) => o.onProgress?.({ stage, done, total });
    const aborted = () => {
      if (o.signal?.aborted) throw new SpeceeOptionError('evaluation aborted');
    };

    // Full depth, once.
    const full: Float32Array[][] = [];
    for (let i = 0; i < seqs.length; i++) {
      aborted();
      full.push(await model.logits(seqs[i]!));
      progress('full depth', i + 1, seqs.length);
    }
    await model.generate(prompts[0]!, { temperature: 0, maxTokens: 8 }).result; // warm-up (JIT)

    const rows: DecodeEvalRow[] = [];
    const thresholds = o.thresholds ?? [o.exits.threshold];
    const policies = o.kvPolicies ?? ['propagate'];
    for (const kvPolicy of policies) {
      // The predictors' own cost: exit decoding in which no predictor ever fires.
      await model.enableEarlyExit(createEarlyExit(o.exits, handle.drafter, { threshold: Infinity, kvPolicy }));
      const { plain: basePlain, exit: never } = await pairedContinuations(model, prompts, newTokens);
      // Per token: (exit step that never exits) − (plain step) − (drafter), as a share of the former.
      const perToken = (r: { decodeMs: number; decoded: number }) => (r.decoded ? r.decodeMs / r.decoded : 0);
      const tNever = perToken(never);
      const predictorShare = tNever > 0 ? Math.max(0, tNever - perToken(basePlain) - (never.decoded ? never.draftMs / never.decoded : 0)) / tNever : 0;
      for (const threshold of thresholds) {
        aborted();
        // A fresh scheduler per setting: the online history starts empty, then persists over the whole evaluation.
        await model.enableEarlyExit(createEarlyExit(o.exits, handle.drafter, { threshold, kvPolicy }));
        let agree = 0;
        let count = 0;
        let nllFull = 0;
        let nllExit = 0;
        let layers = 0;
        const histogram = new Array<number>(L).fill(0);
        for (let i = 0; i < seqs.length; i++) {
          aborted();
          const seq = seqs[i]!;
          const ex = await model.scoreWithEarlyExit(seq);
          for (let t = 1; t + 1 < seq.length; t++) {
            if (argmax(ex.logits[t]!) === argmax(full[i]![t]!)) agree++;
            nllFull -= logProb(full[i]![t]!, seq[t + 1]!);
            nllExit -= logProb(ex.logits[t]!, seq[t + 1]!);
            layers += ex.exitLayers[t]! + 1;
            histogram[ex.exitLayers[t]!]!++;
            count++;
          }
          progress(`exit ${kvPolicy} @${threshold}`, i + 1, seqs.length);
        }
        const { plain, exit: withExit } = await pairedContinuations(model, prompts, newTokens);
        let same = 0;
        let prefix = 0;
        let total = 0;
        plain.runs.forEach((r, i) => {
          const a = r.tokens;
          const b = withExit.runs[i]!.tokens;
          const n = Math.max(a.length, b.length);
          let diverged = false;
          for (let t = 0; t < n; t++) {
            const eq = a[t] !== undefined && a[t] === b[t];
            if (eq) same++;
            if (!eq) diverged = true;
            if (!diverged) prefix++;
          }
          total += n;
        });
        rows.push({
          threshold,
          kv_policy: kvPolicy,
          drafter: o.exits.drafter,
          n_layers: L,
          tokens: count,
          layers_mean: layers / count,
          layers_fraction: layers / count / L,
          histogram,
          agreement_teacher_forced: agree / count,
          agreement_free_running: same / total,
          agreement_free_running_prefix: prefix / total,
          ppl_full: Math.exp(nllFull / count),
          ppl_exit: Math.exp(nllExit / count),
          decode_tps_full: plain.tps,
          decode_tps_exit: withExit.tps,
          speedup: plain.tps > 0 ? withExit.tps / plain.tps : 0,
          free_running_layers_fraction: withExit.layersMean / L,
          predictor_time_share: predictorShare,
          draft_time_share: withExit.decodeMs > 0 ? withExit.draftMs / withExit.decodeMs : 0,
          prompts: prompts.length,
          new_tokens: newTokens,
        });
      }
    }
    await model.disableEarlyExit();
    return rows;
  } finally {
    await handle?.dispose();
    await source.close();
    await model.dispose();
  }
}
