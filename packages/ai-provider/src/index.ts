import type { Model } from '@bitexit/engine';
import { BitexitLanguageModel, type BitexitModelSettings } from './language-model.js';

export { BitexitLanguageModel, PROVIDER_NAME, finishReason, type BitexitCallOptions, type BitexitModelSettings } from './language-model.js';
export { toChatMessages } from './prompt.js';
export { createBitexit, type BitexitProvider } from './provider.js';

/**
 * An AI SDK language model running `model` (a loaded bitexit Model, or a function that loads
 * one on first use) in this process:
 *
 * ```ts
 * const result = streamText({ model: bitexit(model), prompt: 'Tell me a story.' });
 * ```
 */
export function bitexit(model: Model | (() => Promise<Model>), settings: BitexitModelSettings = {}): BitexitLanguageModel {
  return new BitexitLanguageModel(model, settings);
}
