#!/usr/bin/env node
// bitexit in Node on an NVIDIA GPU: load a model on the CUDA backend, stream a
// generation to stdout, print tokens/s and bits per weight to stderr. Without
// a usable GPU it says why (built without nvcc, no driver, no device, driver
// too old) and exits with status 2: it never falls back to another backend.
//
//   npm start                                   # stories260K fixture, prompt "Once upon a time"
//   npm start -- path/to/model.gguf --prompt "Lily wanted to" --max-tokens 100
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cudaBackendProvider, registerCudaBackend } from '@bitexit/backend-cuda';
import { loadModel } from '@bitexit/engine';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = process.env.BITEXIT_FIXTURES ?? resolve(here, '..', '..', '..', 'shared', 'fixtures');
const defaultModel = resolve(fixtures, 'stories260K', 'stories260K.gguf');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    prompt: { type: 'string', default: 'Once upon a time' },
    'max-tokens': { type: 'string', default: '128' },
    temperature: { type: 'string', default: '0.8' },
    seed: { type: 'string' },
    tokenizer: { type: 'string' },
  },
});

// 1. Is CUDA usable here? probe() never throws; it gives the reason in plain words.
const availability = await cudaBackendProvider.probe();
if (!availability.ok) {
  console.error(`example: CUDA is unavailable: ${availability.reason}`);
  console.error('example: this example runs only on the CUDA backend (see examples/node-cpu for the CPU).');
  process.exit(2);
}
console.error(`CUDA: ${availability.detail}`);

const modelPath = positionals[0] ?? defaultModel;
if (!existsSync(modelPath)) {
  console.error(`example: model ${modelPath} not found; pass a model path (node main.mjs MODEL.gguf)`);
  process.exit(2);
}

// 2. Make the CUDA backend known to the engine's registry, then load on it by name.
registerCudaBackend();
try {
  const model = await loadModel(modelPath, {
    backend: 'cuda',
    ...(values.tokenizer ? { tokenizerPath: values.tokenizer } : {}),
  });
  const { info } = model;
  console.error(
    `loaded ${info.path}: ${info.config.architecture}, ${info.parameterCount} parameters, ` +
      `${info.bitsPerWeight.toFixed(2)} bits/weight, context ${info.contextLength}, backend ${info.backend}`,
  );

  // 3. Stream the generation.
  const generation = model.generate(values.prompt, {
    maxTokens: Number(values['max-tokens']),
    temperature: Number(values.temperature),
    ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}),
  });
  process.stdout.write(values.prompt);
  for await (const chunk of generation) process.stdout.write(chunk.text);
  process.stdout.write('\n');

  const { stats } = await generation.result;
  console.error(
    `${stats.promptTokens} prompt tokens, ${stats.generatedTokens} generated (${stats.finishReason}); ` +
      `prefill ${stats.prefillTokensPerSecond.toFixed(0)} tok/s, decode ${stats.decodeTokensPerSecond.toFixed(0)} tok/s, ` +
      `${info.bitsPerWeight.toFixed(2)} bits/weight`,
  );
  await model.dispose();
} catch (e) {
  if (typeof e?.code === 'string' && e.code.startsWith('E_')) {
    console.error(`example: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
