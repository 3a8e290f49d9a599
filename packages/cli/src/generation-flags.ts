/**
 * Flags that `run`, `chat` and `serve` share, declared once: the sampling
 * flags and the SpecEE early-exit flags, and how each becomes engine options.
 */
import type { GenerateOptions, KvPolicy, Model } from '@bitexit/engine';
import { enableEarlyExitFromFiles } from '@bitexit/specee/node';
import { UsageError } from './errors.js';

export interface SamplingFlags {
  maxTokens?: number;
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  stop?: string[];
}

export interface EarlyExitFlags {
  tokenizer?: string;
  earlyExit?: boolean;
  exits?: string;
  exitThreshold?: number;
  kvPolicy?: KvPolicy;
}

/** The engine's generation options for the sampling flags (unset flags keep the engine's defaults). */
export function samplingOptions(flags: SamplingFlags, seed: number): GenerateOptions {
  return {
    ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
    temperature: flags.temperature,
    seed,
    ...(flags.topK !== undefined ? { topK: flags.topK } : {}),
    ...(flags.topP !== undefined ? { topP: flags.topP } : {}),
    ...(flags.minP !== undefined ? { minP: flags.minP } : {}),
    ...(flags.repeatPenalty !== undefined ? { repetitionPenalty: flags.repeatPenalty } : {}),
    ...(flags.stop?.length ? { stop: flags.stop } : {}),
  };
}

/** Usage error for --exits / --exit-threshold / --kv-policy without --early-exit (checked before loading anything). */
export function checkEarlyExitFlags(flags: EarlyExitFlags): void {
  if (!flags.earlyExit && (flags.exits || flags.exitThreshold !== undefined || flags.kvPolicy)) {
    throw new UsageError('--exits, --exit-threshold and --kv-policy need --early-exit');
  }
}

/** Turns early exit on for `model` when --early-exit is given; the handle must be disposed with the model. */
export async function enableEarlyExitFromFlags(model: Model, flags: EarlyExitFlags): Promise<{ dispose(): Promise<void> } | null> {
  checkEarlyExitFlags(flags);
  if (!flags.earlyExit) return null;
  return enableEarlyExitFromFiles(model, model.info.path, {
    ...(flags.exits ? { exitsPath: flags.exits } : {}),
    ...(flags.exitThreshold !== undefined ? { threshold: flags.exitThreshold } : {}),
    ...(flags.kvPolicy ? { kvPolicy: flags.kvPolicy } : {}),
    ...(flags.tokenizer ? { tokenizerPath: flags.tokenizer } : {}),
  });
}
