#!/usr/bin/env node
// The Vercel AI SDK on a bitexit model running in this process: streamText to stdout,
// bitexit's statistics (from providerMetadata) to stderr.
//
//   npm start                                        # the embedded demo model
//   npm start -- --prompt "Tell me a story about a brave cat." --max-tokens 120
//   npm start -- path/to/model.gguf                  # a model with its own chat template
import { parseArgs } from 'node:util';
import { streamText } from 'ai';
import { bitexitFromFile } from '@bitexit/ai-provider/node';
import { demoModelPath } from '@bitexit/model-demo';

// The demo model is a story model with no chat template yet: render the conversation as
// plain "Q:/A:" turns. A model with its own template (e.g. a Llama or Qwen GGUF) needs none.
const PLAIN_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n" +
  "{% elif m.role == 'user' %}Q: {{ m.content }}\n{% else %}A:{{ m.content }}\n{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}A:{% endif %}';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    prompt: { type: 'string', default: 'Tell me a story about a brave cat.' },
    'max-tokens': { type: 'string', default: '120' },
    temperature: { type: 'string', default: '0.8' },
    seed: { type: 'string' },
  },
});
const path = positionals[0] ?? demoModelPath();

// Loaded on the first call (CPU backend registered; 'auto' picks a GPU backend you register first).
const model = bitexitFromFile(path, positionals[0] ? {} : { chatTemplate: PLAIN_TEMPLATE });
try {
  const result = streamText({
    model,
    prompt: values.prompt,
    maxOutputTokens: Number(values['max-tokens']),
    temperature: Number(values.temperature),
    ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}),
    onError: ({ error }) => {
      throw error;
    },
  });
  for await (const delta of result.textStream) process.stdout.write(delta);
  process.stdout.write('\n');
  const [usage, finishReason, metadata] = await Promise.all([result.usage, result.finishReason, result.providerMetadata]);
  const stats = metadata?.bitexit ?? {};
  console.error(
    `${usage.inputTokens} prompt tokens, ${usage.outputTokens} generated (${finishReason}); ` +
      `decode ${Number(stats.decodeTokensPerSecond).toFixed(0)} tok/s on ${stats.backend}, first token after ${Number(stats.timeToFirstTokenMs).toFixed(1)} ms`,
  );
} catch (e) {
  // bitexit's typed errors carry a code starting with E_ and a one-line message.
  if (typeof e?.code === 'string' && e.code.startsWith('E_')) {
    console.error(`example: ${e.message}`);
    process.exitCode = 1;
  } else throw e;
} finally {
  await model.dispose();
}
