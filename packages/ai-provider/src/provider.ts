import { NoSuchModelError, type ProviderV4 } from '@ai-sdk/provider';
import type { Model } from '@bitexit/engine';
import { BitexitLanguageModel, type BitexitModelSettings } from './language-model.js';

export interface BitexitProvider extends ProviderV4 {
  /** The language model registered under `modelId`. */
  (modelId: string): BitexitLanguageModel;
  languageModel(modelId: string): BitexitLanguageModel;
}

/**
 * An AI SDK provider (ProviderV4, for `createProviderRegistry` and friends) over named bitexit
 * models: each entry is a loaded Model or a function loading one on first use, with optional
 * per-model settings. Text generation only: embedding and image models throw NoSuchModelError.
 */
export function createBitexit(
  models: Record<string, Model | (() => Promise<Model>) | { model: Model | (() => Promise<Model>); settings?: BitexitModelSettings }>,
): BitexitProvider {
  const cache = new Map<string, BitexitLanguageModel>();
  const languageModel = (modelId: string): BitexitLanguageModel => {
    let lm = cache.get(modelId);
    if (!lm) {
      const entry = Object.hasOwn(models, modelId) ? models[modelId] : undefined;
      if (!entry) {
        throw new NoSuchModelError({
          modelId,
          modelType: 'languageModel',
          message: `no bitexit model named '${modelId}' (known: ${Object.keys(models).join(', ') || 'none'})`,
        });
      }
      const { model, settings } = typeof entry === 'object' && 'model' in entry ? entry : { model: entry, settings: {} };
      lm = new BitexitLanguageModel(model, { modelId, ...settings });
      cache.set(modelId, lm);
    }
    return lm;
  };
  const noSuch = (modelType: 'embeddingModel' | 'imageModel') => (modelId: string) => {
    throw new NoSuchModelError({ modelId, modelType, message: `bitexit provides language models only, not ${modelType}s` });
  };
  return Object.assign((modelId: string) => languageModel(modelId), {
    specificationVersion: 'v4' as const,
    languageModel,
    embeddingModel: noSuch('embeddingModel'),
    imageModel: noSuch('imageModel'),
  });
}
