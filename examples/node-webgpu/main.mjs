#!/usr/bin/env node
// bitexit in Node on WebGPU: load a model, stream a generation to stdout, print stats to stderr.
// The same program as examples/node-cpu, on the GPU through Dawn (the `webgpu` npm package).
//
//   npm start                                   # stories260K fixture, prompt "Once upon a time"
//   npm start -- path/to/model.gguf --prompt "Lily wanted to" --max-tokens 100
//   npm start -- model.gguf --disable-features shader-f16,subgroups   # force the f32 / workgroup-memory path
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { webgpuBackendProvider } from '@bitexit/backend-webgpu';
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
    'disable-features': { type: 'string' },
  },
});
const modelPath = positionals[0] ?? defaultModel;
if (!existsSync(modelPath)) {
  console.error(`example: model ${modelPath} not found; pass a model path (node main.mjs MODEL.gguf)`);
  process.exit(2);
}

// 1. Ask the WebGPU provider whether it can run here. It never throws; when it
//    cannot, say so loudly, with the reason and what to try, instead of quietly
//    falling back to the CPU.
const availability = await webgpuBackendProvider.probe();
if (!availability.ok) {
  console.error(
    [
      '',
      '==================================================================',
      ' WebGPU is NOT available in this Node process, so this example',
      ' cannot run.',
      '',
      ` Reason: ${availability.reason}`,
      '',
      ' What to try:',
      '  - WebGPU in Node comes from the `webgpu` npm package (Dawn).',
      '    It is an optional peer dependency of @bitexit/backend-webgpu:',
      '    npm install webgpu',
      '  - Dawn needs a Vulkan driver (Linux), Metal (macOS) or D3D12',
      '    (Windows). On Linux without a GPU, Mesa lavapipe works:',
      '    apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1',
      '    (bookworm\'s own Mesa lacks features Dawn needs). With an NVIDIA',
      '    GPU, install the Vulkan loader (libvulkan1) beside the driver.',
      '  - `vulkaninfo --summary` (package vulkan-tools) lists the',
      '    devices Vulkan sees.',
      '  - To run on the CPU instead: examples/node-cpu.',
      '==================================================================',
      '',
    ].join('\n'),
  );
  process.exit(3);
}
console.error(`webgpu: ${availability.detail}`);

try {
  // 2. Create the WebGPU backend (adapter, device, pipelines). Features can be
  //    turned off to exercise the fallback paths a weaker GPU would take.
  const disableFeatures = values['disable-features']?.split(',').filter(Boolean) ?? [];
  const backend = await webgpuBackendProvider.create(disableFeatures.length ? { disableFeatures } : {});

  // 3. Load: parse the file, upload the weights to the GPU, compile the step programs.
  const model = await loadModel(modelPath, {
    backend,
    ...(values.tokenizer ? { tokenizerPath: values.tokenizer } : {}),
  });
  const { info } = model;
  console.error(
    `loaded ${info.path}: ${info.config.architecture}, ${info.parameterCount} parameters, ` +
      `${info.bitsPerWeight.toFixed(2)} bits/weight, context ${info.contextLength}, backend ${info.backend}`,
  );

  // 4. Generate: iterate the chunks as they come, then await the result for the stats.
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

  // 5. Release the GPU memory: the model's buffers, then the device (we created the backend, so we dispose it).
  await model.dispose();
  await backend.dispose();
} catch (e) {
  // bitexit's typed errors carry a code starting with E_ and a one-line message
  // that says what failed and what to try (no adapter, device lost, out of memory, ...).
  if (typeof e?.code === 'string' && e.code.startsWith('E_')) {
    console.error(`example: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
