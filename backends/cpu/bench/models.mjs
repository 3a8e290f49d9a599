/**
 * Whole-model CPU benchmarks on the fixture models, through the engine:
 * prefill tokens/s (a 128-token prompt of dev text) and decode tokens/s
 * (greedy, 128 new tokens), best of a few runs.
 */
import { readFileSync } from 'node:fs';
import { loadModel } from '@bitexit/engine';
import { fixturePath } from '@bitexit/format/node';

const models = [
  { name: 'stories260K (GGUF F32)', path: 'stories260K/stories260K.gguf' },
  { name: 'TinyStories-656K (HF F32)', path: 'tinystories-656k' },
];

export function modelBenchmarks({ createCpuBackend, quick }) {
  const out = [];
  for (const m of models) {
    out.push({
      name: `model ${m.name} prefill+decode`,
      fn: async () => {
        const path = fixturePath(m.path);
        const textPath = fixturePath('text/tinystories-dev.txt');
        if (!path || !textPath) return { metric: 'skipped', value: 0, unit: 'fixture missing' };
        const backend = await createCpuBackend();
        const model = await loadModel(path, { backend, contextLength: 512, prefillChunk: 128 });
        const prompt = model.tokenizer.encode(readFileSync(textPath, 'utf8').slice(0, 4000), { addBos: true }).slice(0, 128);
        const runs = quick ? 2 : 5;
        let prefill = 0;
        let decode = 0;
        for (let i = 0; i < runs; i++) {
          // Same prompt each time: use a fresh model state so the prefix cache does not skip the prefill.
          const { stats } = await model.generate([...prompt.slice(0, -1), prompt.at(-1)], { temperature: 0, maxTokens: 129 }).result;
          await model.logits([1]); // resets the cached prefix
          prefill = Math.max(prefill, stats.prefillTokensPerSecond);
          decode = Math.max(decode, stats.decodeTokensPerSecond);
        }
        await model.dispose();
        await backend.dispose();
        return {
          metric: 'decode tokens/s',
          value: decode,
          unit: 'tok/s',
          decodeTokensPerSecond: decode,
          prefillTokensPerSecond: prefill,
          promptTokens: prompt.length,
          newTokens: 128,
          runs,
        };
      },
    });
  }
  return out;
}
