/**
 * File-level SpecEE workflows for Node (what `bitexit train-exits` and
 * `bitexit eval exits` run): open the model and the drafter, collect
 * teacher-forced traces, train or simulate.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '@bitexit/backend';
import { loadModel, openModel, type Model, type ModelSource } from '@bitexit/engine';
import { readGguf } from '@bitexit/format';
import { createFileSink, openFileSource } from '@bitexit/format/node';
import { chunkTokens, collectTraces, MAX_CHUNK, type Trace } from '../collect.js';
import { eagleTargetFromSource, hasEagleHead, loadEagleGguf, loadEagleSafetensors } from '../drafters/eagle.js';
import { ModelDrafter } from '../drafters/model.js';
import { NgramDrafter } from '../drafters/ngram.js';
import type { Drafter } from '../drafters/types.js';
import { SpeceeFileError, SpeceeOptionError } from '../errors.js';
import { readExitsFile, writeExitsFile, type ExitsSpec } from '../file.js';
import { DEFAULT_K } from '../predictor.js';
import { simulateExits, type SimulationResult } from '../simulate.js';
import { trainExits, type LayerTrainReport } from '../train.js';

export interface PipelineProgress {
  stage: 'collect' | 'train';
  done: number;
  total: number;
  detail?: string;
}

export interface DrafterHandle {
  drafter: Drafter;
  /** Reference stored in the exits file. */
  ref: string;
  ngram: NgramDrafter | null;
  dispose(): Promise<void>;
}

/**
 * Opens a drafter from its reference: 'ngram' (the given table, or one
 * learned from `tableSequences`), 'eagle' (the head inside the target's GGUF),
 * 'eagle:PATH' (.safetensors in the published EAGLE-1 layout, a directory
 * holding model.safetensors, or a GGUF with eagle.* tensors), 'model:PATH'
 * (a draft model of the same vocabulary, loaded on `backend`).
 */
export async function openDrafter(
  ref: string,
  source: ModelSource,
  backend: Backend,
  options: { ngram?: NgramDrafter | null; tableSequences?: number[][] } = {},
): Promise<DrafterHandle> {
  const none = async () => undefined;
  if (ref === 'ngram') {
    const ngram = options.ngram ?? (options.tableSequences ? NgramDrafter.train(options.tableSequences) : null);
    if (!ngram) throw new SpeceeOptionError('the n-gram drafter needs a table (none in the exits file)');
    return { drafter: ngram, ref, ngram, dispose: none };
  }
  if (ref === 'eagle') {
    if (source.format !== 'gguf') throw new SpeceeOptionError(`--drafter eagle reads the head inside a GGUF model; ${source.path} is ${source.format}: pass --drafter eagle:PATH`);
    const src = await openFileSource(source.path);
    try {
      const gguf = await readGguf(src);
      if (!hasEagleHead(gguf)) throw new SpeceeFileError(source.path, "carries no EAGLE head (no tensor 'eagle.fc.weight'): pass --drafter eagle:PATH or ngram");
      return { drafter: await loadEagleGguf(gguf, await eagleTargetFromSource(source), source.path), ref, ngram: null, dispose: none };
    } finally {
      await src.close?.();
    }
  }
  if (ref.startsWith('eagle:')) {
    let path = ref.slice(6);
    if ((await stat(path).catch(() => null))?.isDirectory()) path = join(path, 'model.safetensors');
    const src = await openFileSource(path);
    try {
      const target = await eagleTargetFromSource(source);
      const drafter = path.endsWith('.gguf') ? await loadEagleGguf(await readGguf(src), target, path) : await loadEagleSafetensors(src, target);
      return { drafter, ref, ngram: null, dispose: none };
    } finally {
      await src.close?.();
    }
  }
  if (ref.startsWith('model:')) {
    const path = ref.slice(6);
    const draftSource = await openModel(path);
    const draft: Model = await loadModel(draftSource, { backend, contextLength: chunkFor(draftSource) });
    if (draft.info.config.vocabSize !== source.config.vocabSize) {
      await draft.dispose();
      throw new SpeceeOptionError(`draft model ${path} has a vocabulary of ${draft.info.config.vocabSize}, the target ${source.config.vocabSize}`);
    }
    return { drafter: new ModelDrafter(draft), ref, ngram: null, dispose: () => draft.dispose() };
  }
  throw new SpeceeOptionError(`unknown drafter '${ref}': use ngram, eagle, eagle:PATH or model:PATH`);
}

function chunkFor(source: ModelSource): number {
  return Math.min(MAX_CHUNK, source.config.contextLength);
}

function tokenize(source: ModelSource, text: string): number[] {
  if (!source.tokenizer) throw new SpeceeOptionError(`${source.path} has no tokenizer: pass one (llama2.c tokenizer.bin)`);
  return source.tokenizer.encode(text, { addBos: false });
}

export interface TrainFromTextOptions {
  modelPath: string;
  tokenizerPath?: string;
  text: string;
  backend: Backend;
  drafter?: string;
  layers?: 'auto' | number;
  coverage?: number;
  /** Text tokens collected for training (default 4096); the rest of the text feeds the n-gram table. */
  maxTokens?: number;
  seed?: number;
  epochs?: number;
  threshold?: number;
  k?: number;
  onProgress?: (p: PipelineProgress) => void;
  onLayer?: (r: LayerTrainReport) => void;
  signal?: AbortSignal;
}

export interface TrainFromTextResult {
  spec: ExitsSpec;
  reports: LayerTrainReport[];
  exitCounts: number[];
  /** The schedule replayed on the training tokens. */
  trainSimulation: SimulationResult;
  tokens: number;
  notes: string[];
}

/** Collects traces over the first `maxTokens` tokens of `text` and trains the predictors and the offline schedule. */
export async function trainExitsFromText(o: TrainFromTextOptions): Promise<TrainFromTextResult> {
  const source = await openModel(o.modelPath, o.tokenizerPath ? { tokenizerPath: o.tokenizerPath } : {});
  const notes: string[] = [];
  let handle: DrafterHandle | null = null;
  try {
    const ids = tokenize(source, o.text);
    const maxTokens = o.maxTokens ?? 4096;
    const chunk = chunkFor(source);
    const bos = source.tokenizer!.bosId;
    const rest = ids.slice(maxTokens);
    let tableSeqs = [rest];
    if (rest.length < 1000) {
      tableSeqs = [ids];
      notes.push(`the text has only ${rest.length} tokens beyond the ${maxTokens} collected: the n-gram table was learned from the whole text, so its drafts on these tokens are optimistic`);
    }
    const ref = o.drafter ?? 'ngram';
    handle = await openDrafter(ref, source, o.backend, ref === 'ngram' ? { tableSequences: tableSeqs } : {});
    const seqs = chunkTokens(ids, chunk, maxTokens, bos);
    if (seqs.length === 0) throw new SpeceeOptionError('the text is empty after tokenisation');
    const k = o.k ?? DEFAULT_K;
    const trace = await collectTraces(source, o.backend, seqs, handle.drafter, {
      k,
      onProgress: (done, total) => o.onProgress?.({ stage: 'collect', done, total }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const threshold = o.threshold ?? 0.5;
    const res = trainExits(trace, {
      seed: o.seed ?? 0,
      threshold,
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(o.layers !== undefined ? { layers: o.layers } : {}),
      ...(o.coverage !== undefined ? { coverage: o.coverage } : {}),
      onLayer: (done, total, r) => {
        o.onProgress?.({ stage: 'train', done, total, detail: `layer ${r.layer}` });
        o.onLayer?.(r);
      },
    });
    const spec: ExitsSpec = {
      nLayers: source.config.nLayers,
      k,
      threshold,
      predictors: res.predictors,
      offline: res.offline,
      online: { history: 5, spread: [-2, 0, 2] },
      drafter: handle.ref,
      ngram: handle.ngram,
      target: source.path,
      seed: o.seed ?? 0,
      metrics: new Map(res.reports.map((r) => [r.layer, { precision: r.heldOut.precision, recall: r.heldOut.recall }])),
    };
    const trainSimulation = simulateExits(trace, res.predictors, { threshold, offline: res.offline, config: source.config });
    return { spec, reports: res.reports, exitCounts: res.exitCounts, trainSimulation, tokens: trace.rows, notes };
  } finally {
    await handle?.dispose();
    await source.close();
  }
}

export async function saveExitsFile(path: string, spec: ExitsSpec): Promise<void> {
  await writeExitsFile(await createFileSink(path), spec);
}

export async function loadExitsFile(path: string): Promise<ExitsSpec> {
  const src = await openFileSource(path);
  try {
    return await readExitsFile(src);
  } finally {
    await src.close?.();
  }
}

export interface EvalFromTextOptions {
  modelPath: string;
  tokenizerPath?: string;
  exits: ExitsSpec;
  text: string;
  backend: Backend;
  maxTokens?: number;
  /** Thresholds to simulate (default: the file's). The trace is collected once. */
  thresholds?: number[];
  onProgress?: (p: PipelineProgress) => void;
  signal?: AbortSignal;
}

export interface EvalFromTextResult {
  trace: Trace;
  results: { threshold: number; sim: SimulationResult }[];
  drafter: string;
}

/** Teacher-forced SpecEE simulation over the first `maxTokens` tokens of `text`. */
export async function evalExitsFromText(o: EvalFromTextOptions): Promise<EvalFromTextResult> {
  const source = await openModel(o.modelPath, o.tokenizerPath ? { tokenizerPath: o.tokenizerPath } : {});
  let handle: DrafterHandle | null = null;
  try {
    if (source.config.nLayers !== o.exits.nLayers) {
      throw new SpeceeOptionError(`the exits file is for a model of ${o.exits.nLayers} layers, ${source.path} has ${source.config.nLayers}`);
    }
    const ids = tokenize(source, o.text);
    const maxTokens = o.maxTokens ?? 2048;
    handle = await openDrafter(o.exits.drafter, source, o.backend, { ngram: o.exits.ngram ?? null });
    const seqs = chunkTokens(ids, chunkFor(source), maxTokens, source.tokenizer!.bosId);
    if (seqs.length === 0) throw new SpeceeOptionError('the text is empty after tokenisation');
    const trace = await collectTraces(source, o.backend, seqs, handle.drafter, {
      k: o.exits.k,
      onProgress: (done, total) => o.onProgress?.({ stage: 'collect', done, total }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const results = (o.thresholds ?? [o.exits.threshold]).map((threshold) => ({
      threshold,
      sim: simulateExits(trace, o.exits.predictors, {
        threshold,
        offline: o.exits.offline,
        online: { history: o.exits.online.history, spread: o.exits.online.spread },
        config: source.config,
      }),
    }));
    return { trace, results, drafter: o.exits.drafter };
  } finally {
    await handle?.dispose();
    await source.close();
  }
}

/** The JSON that `bitexit eval exits --json` prints for one threshold. */
export function evalExitsJson(sim: SimulationResult, threshold: number, drafter: string) {
  return {
    threshold,
    tokens: sim.tokens,
    n_layers: sim.nLayers,
    layers_mean: sim.layersMean,
    layers_fraction: sim.layersFraction,
    agreement_teacher_forced: sim.agreement,
    agreement_free_running: null,
    ppl_full: sim.pplFull,
    ppl_exit: sim.pplExit,
    speedup: null,
    histogram: sim.histogram,
    drafter,
    draft_hit_rate: sim.draftHitRate,
    predictor_calls_per_token: sim.predictorCallsPerToken,
    lm_head_calls_per_token: sim.lmHeadCallsPerToken,
    predictor_overhead_flops_fraction: sim.flops?.overheadFraction ?? null,
    flops_ratio: sim.flops?.ratio ?? null,
    note: 'teacher-forced simulation from full-depth traces; run eval exits without --simulate for real decoding (free-running agreement, speed)',
  };
}
