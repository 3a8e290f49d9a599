import { registerCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, type LoadModelOptions, type Model } from '@bitexit/engine';
import { BitexitLanguageModel, type BitexitModelSettings } from './language-model.js';

export * from './index.js';

export interface BitexitFileOptions extends BitexitModelSettings, LoadModelOptions {}

/**
 * Node: an AI SDK language model for a model file (GGUF, llama2.c, Hugging Face directory),
 * loaded on first use. The CPU backend is registered, so `backend: 'auto'` (the default) always
 * finds one; register GPU backends before the first call to let `auto` pick them.
 * `dispose()` frees the model.
 */
export function bitexitFromFile(path: string, options: BitexitFileOptions = {}): BitexitLanguageModel & { dispose(): Promise<void> } {
  const { modelId, chatTemplate, ...load } = options;
  registerCpuBackend();
  let loading: Promise<Model> | null = null;
  const languageModel = new BitexitLanguageModel(() => (loading = loadModel(path, load)), {
    modelId: modelId ?? path.split(/[\\/]/).pop() ?? path,
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
  });
  let disposed = false;
  return Object.assign(languageModel, {
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      await (await loading?.catch(() => null))?.dispose();
    },
  });
}
