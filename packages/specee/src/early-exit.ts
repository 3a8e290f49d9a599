/**
 * From an exits file to the engine's early-exit config: predictors, threshold,
 * drafter, and a two-level scheduler (offline layers from the file, online
 * history/spread as stored). `model.enableEarlyExit(createEarlyExit(...))`.
 */
import type { EarlyExitConfig, KvPolicy } from '@bitexit/engine';
import type { Drafter } from './drafters/types.js';
import { SpeceeOptionError } from './errors.js';
import type { ExitsSpec } from './file.js';
import { ExitScheduler } from './schedule.js';

export interface CreateEarlyExitOptions {
  /** Overrides the file's threshold. */
  threshold?: number;
  /** Default 'propagate'. */
  kvPolicy?: KvPolicy;
  /** A scheduler to share (its history persists across requests); default a new one from the file. */
  scheduler?: ExitScheduler;
  /** Use every layer that has a predictor, ignoring the offline/online schedule (ablation). */
  allLayers?: boolean;
}

export function createEarlyExit(spec: ExitsSpec, drafter: Drafter, options: CreateEarlyExitOptions = {}): EarlyExitConfig & { scheduler: ExitScheduler } {
  const threshold = options.threshold ?? spec.threshold;
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new SpeceeOptionError(`threshold must be a number, got ${threshold}`);
  const layers = [...spec.predictors.keys()];
  const scheduler =
    options.scheduler ??
    (options.allLayers
      ? new ExitScheduler(spec.nLayers, layers, { history: 0 })
      : new ExitScheduler(spec.nLayers, spec.offline, { history: spec.online.history, spread: spec.online.spread }));
  return {
    predictors: spec.predictors,
    k: spec.k,
    threshold,
    drafter,
    scheduler,
    ...(options.kvPolicy ? { kvPolicy: options.kvPolicy } : {}),
  };
}
