/**
 * Shared by the bench scripts (results.mjs, explore.mjs, rate-distortion.mjs):
 * the fixture models, the dev-text split and the perplexity protocol.
 *
 * Protocol: perplexity with the engine (llama-perplexity's protocol, ctx 256)
 * on the FIRST 80% of fixtures/text/tinystories-dev.txt; calibration text =
 * the LAST 20% of the same file (disjoint). When the backend has no bx kernel,
 * bx tensors are dequantized to f32 at load (dequantizeBx, the normative values)
 * — the numbers are identical.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, openModel } from '@bitexit/engine';
import { dequantizeBx, encodeF32 } from '@bitexit/format';
import { fixturesDir } from '@bitexit/format/node';

/** `--name value` from argv, or the default. */
export const argOpt = (args, name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};

export function fixtures() {
  const F = fixturesDir();
  if (!F) {
    console.error('fixtures not found: set BITEXIT_FIXTURES');
    process.exit(1);
  }
  return F;
}

export const modelsIn = (F) => ({
  '260k': { label: 'stories260K', path: join(F, 'stories260K/stories260K.gguf') },
  '656k': { label: 'TinyStories-656K', path: join(F, 'tinystories-656k') },
});

/** The dev text split: evaluation = first 80%, calibration = last 20% (disjoint). */
export function devSplit(F) {
  const text = readFileSync(join(F, 'text/tinystories-dev.txt'), 'utf8');
  const cut = Math.floor(text.length * 0.8);
  return { evalText: text.slice(0, cut), calibText: text.slice(cut) };
}

/** Engine perplexity (ctx 256, first `chunks` chunks) of a model file or directory. */
export async function perplexity(path, evalText, chunks) {
  const backend = await createCpuBackend();
  const src = await openModel(path);
  if (!backend.capabilities.weightDTypes.includes('bx')) {
    for (const e of src.tensors.values()) {
      if (e.dtype !== 'bx') continue;
      const load = e.load;
      e.load = async () => {
        const t = await load();
        return { name: t.name, dtype: 'f32', shape: t.shape, data: encodeF32(dequantizeBx(t.data)) };
      };
    }
  }
  const model = await loadModel(src, { backend, contextLength: 256 });
  try {
    return await model.perplexity(evalText, { ctx: 256, maxChunks: chunks });
  } finally {
    await model.dispose();
  }
}
