/**
 * Early exit for a loaded model from files: find the exits (a side file
 * beside the model, or `bitexit.specee.*` keys inside the model GGUF itself),
 * open the drafter they name, and enable it on the model.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { openModel, type KvPolicy, type Model } from '@bitexit/engine';
import { readGguf } from '@bitexit/format';
import { openFileSource } from '@bitexit/format/node';
import { createEarlyExit } from '../early-exit.js';
import { SpeceeFileError } from '../errors.js';
import { exitsFromGguf, type ExitsSpec } from '../file.js';
import { loadExitsFile, openDrafter } from './pipeline.js';

const exists = (p: string) => stat(p).then(
  () => true,
  () => false,
);

/** `MODEL.exits.gguf` beside the model (what train-exits writes by default). */
export function defaultExitsPath(modelPath: string): string {
  return join(dirname(modelPath), `${basename(modelPath).replace(/\.(gguf|bin)$/, '')}.exits.gguf`);
}

/** The exits for a model: `exitsPath`, else the side file, else the keys inside the model GGUF. */
export async function findExits(modelPath: string, exitsPath?: string): Promise<{ spec: ExitsSpec; from: string }> {
  if (exitsPath) return { spec: await loadExitsFile(exitsPath), from: exitsPath };
  const side = defaultExitsPath(modelPath);
  if (await exists(side)) return { spec: await loadExitsFile(side), from: side };
  if (modelPath.endsWith('.gguf')) {
    const src = await openFileSource(modelPath);
    try {
      const g = await readGguf(src);
      if (g.getNumber('bitexit.specee.version') !== undefined) return { spec: await exitsFromGguf(g, modelPath), from: modelPath };
    } finally {
      await src.close?.();
    }
  }
  throw new SpeceeFileError(modelPath, `has no SpecEE exit predictors (no ${side} and no bitexit.specee.* keys in the model): run \`bitexit train-exits\` or pass --exits FILE`);
}

export interface EnableFromFilesOptions {
  exitsPath?: string;
  threshold?: number;
  kvPolicy?: KvPolicy;
  tokenizerPath?: string;
}

/** Enables early exit on `model` (loaded from `modelPath`); returns what was used and a disposer for the drafter. */
export async function enableEarlyExitFromFiles(model: Model, modelPath: string, o: EnableFromFilesOptions = {}) {
  const { spec, from } = await findExits(modelPath, o.exitsPath);
  const source = await openModel(modelPath, o.tokenizerPath ? { tokenizerPath: o.tokenizerPath } : {});
  try {
    const handle = await openDrafter(spec.drafter, source, model.backend, { ngram: spec.ngram ?? null });
    try {
      await model.enableEarlyExit(
        createEarlyExit(spec, handle.drafter, { ...(o.threshold !== undefined ? { threshold: o.threshold } : {}), ...(o.kvPolicy ? { kvPolicy: o.kvPolicy } : {}) }),
      );
    } catch (e) {
      await handle.dispose();
      throw e;
    }
    return { spec, from, dispose: () => handle.dispose() };
  } finally {
    await source.close();
  }
}
