import { basename, dirname, join } from 'node:path';
import { saveExitsFile, trainExitsFromText, type TrainFromTextResult } from '@bitexit/specee/node';
import { UsageError } from '../errors.js';
import type { CliIO } from '../io.js';
import { requirePath } from '../model.js';
import { progressEnabled } from '../progress.js';
import { backendFor, readText, resolveModel, stageBar } from './exits-common.js';

export interface TrainExitsCliOptions {
  model?: string;
  tokenizer?: string;
  text: string;
  drafter: string;
  layers: string;
  maxTokens: number;
  seed: number;
  epochs?: number;
  /** Default 0.5. */
  exitThreshold?: number;
  output?: string;
  backend: string;
  json?: boolean;
  progress?: boolean;
}

function parseLayers(s: string): 'auto' | number {
  if (s === 'auto') return 'auto';
  if (/^\d+$/.test(s) && Number(s) >= 1) return Number(s);
  throw new UsageError(`--layers takes 'auto' or a positive layer count, got '${s}'`);
}

export function trainExitsJson(r: TrainFromTextResult, output: string) {
  return {
    output,
    tokens: r.tokens,
    drafter: r.spec.drafter,
    threshold: r.spec.threshold,
    offline_layers: r.spec.offline,
    exit_counts: r.exitCounts,
    layers: r.reports.map((x) => ({
      layer: x.layer,
      samples: x.samples,
      positive_rate: x.positiveRate,
      heldout_precision: x.heldOut.precision,
      heldout_recall: x.heldOut.recall,
      heldout_n: x.heldOut.n,
    })),
    train_layers_fraction: r.trainSimulation.layersFraction,
    train_agreement: r.trainSimulation.agreement,
    notes: r.notes,
  };
}

/** `bitexit train-exits`: trains SpecEE exit predictors and writes them with the schedule to a side file. */
export async function trainExitsCommand(opts: TrainExitsCliOptions, io: CliIO): Promise<number> {
  const layers = parseLayers(opts.layers);
  const modelPath = await resolveModel(opts.model);
  if (opts.tokenizer) await requirePath(opts.tokenizer, 'tokenizer file');
  const text = await readText(opts.text);
  const output = opts.output ?? join(dirname(modelPath), `${basename(modelPath).replace(/\.(gguf|bin)$/, '')}.exits.gguf`);
  const backend = await backendFor(opts.backend);
  const bar = stageBar(progressEnabled(opts.progress, io.stderr), io.stderr, 'train-exits');
  const t0 = performance.now();
  try {
    const r = await trainExitsFromText({
      modelPath,
      ...(opts.tokenizer ? { tokenizerPath: opts.tokenizer } : {}),
      text,
      backend,
      drafter: opts.drafter,
      layers,
      maxTokens: opts.maxTokens,
      seed: opts.seed,
      threshold: opts.exitThreshold ?? 0.5,
      ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}),
      onProgress: (p) => bar.update(p),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    bar.stop();
    await saveExitsFile(output, r.spec);
    if (opts.json) {
      io.stdout.write(JSON.stringify(trainExitsJson(r, output)) + '\n');
      return 0;
    }
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    const lines = [
      `wrote ${output}`,
      `trained on ${r.tokens} tokens, drafter ${r.spec.drafter}, k ${r.spec.k}, threshold ${r.spec.threshold}, seed ${r.spec.seed}`,
      'layer  samples  exit-ok  held-out precision  recall',
      ...r.reports.map(
        (x) => `${String(x.layer).padStart(5)}  ${String(x.samples).padStart(7)}  ${pct(x.positiveRate).padStart(7)}  ${pct(x.heldOut.precision).padStart(18)}  ${pct(x.heldOut.recall).padStart(6)}`,
      ),
      `offline layers: ${r.spec.offline.join(', ') || '(none)'} (exits per layer on the training text: ${r.exitCounts.join(' ')})`,
      `on the training text: ${(r.trainSimulation.layersFraction * r.trainSimulation.nLayers).toFixed(2)} of ${r.trainSimulation.nLayers} layers (${pct(r.trainSimulation.layersFraction)}), agreement ${pct(r.trainSimulation.agreement)}`,
      ...r.notes.map((n) => `note: ${n}`),
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
    ];
    io.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    bar.stop();
    await backend.dispose();
  }
}
