import type { Trace } from './collect.js';
import { layerSamples } from './collect.js';
import { SpeceeOptionError } from './errors.js';
import { trainPredictor, type BinaryMetrics, type ExitPredictor, type TrainOptions } from './predictor.js';
import { offlineLayers } from './schedule.js';
import { simulateExits } from './simulate.js';

export interface LayerTrainReport {
  layer: number;
  samples: number;
  positiveRate: number;
  train: BinaryMetrics;
  heldOut: BinaryMetrics;
  loss: number;
}

export interface TrainExitsOptions extends TrainOptions {
  /** 'auto' (coverage, default 0.9) or a layer count for the offline set. */
  layers?: 'auto' | number;
  coverage?: number;
  /**
   * Training rows: 'all' rows with k drafts (default), or only those where the
   * layer's argmax is among the drafts, the only rows where the predictor's
   * answer decides an exit.
   */
  rows?: 'all' | 'argmax-in-drafts';
  onLayer?: (done: number, total: number, report: LayerTrainReport) => void;
}

export interface TrainExitsResult {
  predictors: Map<number, ExitPredictor>;
  reports: LayerTrainReport[];
  /** Offline layer set picked from the training trace. */
  offline: number[];
  /** Exit layer counts on the training trace with every predictor active. */
  exitCounts: number[];
}

/**
 * Trains one predictor per layer 0..L−2 (never the last layer), then picks
 * the offline set from the exits the trained predictors make on the
 * training trace with every predictor active.
 */
export function trainExits(trace: Trace, options: TrainExitsOptions = {}): TrainExitsResult {
  const L = trace.nLayers;
  if (L < 2) throw new SpeceeOptionError(`early exit needs at least 2 layers, the model has ${L}`);
  const predictors = new Map<number, ExitPredictor>();
  const reports: LayerTrainReport[] = [];
  const seed = options.seed ?? 0;
  for (let layer = 0; layer < L - 1; layer++) {
    const s = layerSamples(trace, layer, options.rows ?? 'all');
    if (s.n === 0) continue;
    const r = trainPredictor(s, { ...options, seed: (seed * 1000003 + layer) >>> 0 });
    predictors.set(layer, r.predictor);
    let pos = 0;
    for (let i = 0; i < s.n; i++) pos += s.y[i]!;
    const report: LayerTrainReport = { layer, samples: s.n, positiveRate: pos / s.n, train: r.train, heldOut: r.heldOut, loss: r.loss };
    reports.push(report);
    options.onLayer?.(layer + 1, L - 1, report);
  }
  const all = [...predictors.keys()];
  const sim = simulateExits(trace, predictors, { threshold: options.threshold ?? 0.5, offline: all, onlineScheduling: false });
  const offline = offlineLayers(
    sim.exits,
    L,
    typeof options.layers === 'number' ? { count: options.layers } : { coverage: options.coverage ?? 0.9 },
  );
  return { predictors, reports, offline, exitCounts: sim.histogram };
}

