#!/usr/bin/env node
// bitexit in Node on the CPU: load a model, stream a generation to stdout, print stats to stderr.
//
//   npm start                                   # stories260K fixture, prompt "Once upon a time"
//   npm start -- path/to/model.gguf --prompt "Lily wanted to" --max-tokens 100
//   npm start -- stories260K.bin --tokenizer tok512.bin
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { registerCpuBackend } from '@bitexit/backend-cpu';
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
const modelPath = positionals[0] ?? defaultModel;
if (!existsSync(modelPath)) {
  console.error(`example: model ${modelPath} not found; pass a model path (node main.mjs MODEL.gguf)`);
  process.exit(2);
}

// 1. Make the CPU backend known to the engine's backend registry.
registerCpuBackend();

try {
  // 2. Load: parse the file, upload the weights to the backend, compile the step programs.
  const model = await loadModel(modelPath, {
    backend: 'cpu',
    ...(values.tokenizer ? { tokenizerPath: values.tokenizer } : {}),
  });
  const { info } = model;
  console.error(
    `loaded ${info.path}: ${info.config.architecture}, ${info.parameterCount} parameters, ` +
      `${info.bitsPerWeight.toFixed(2)} bits/weight, context ${info.contextLength}, backend ${info.backend}`,
  );

  // 3. Generate: iterate the chunks as they come, then await the result for the stats.
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
      `first token after ${stats.timeToFirstTokenMs.toFixed(1)} ms`,
  );

  // 4. Release the backend's memory.
  await model.dispose();
} catch (e) {
  // bitexit's typed errors carry a code starting with E_ and a one-line message.
  if (typeof e?.code === 'string' && e.code.startsWith('E_')) {
    console.error(`example: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
