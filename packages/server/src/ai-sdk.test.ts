import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, generateText, streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '@bitexit/engine';
import type { BitexitServer } from './server.js';
import { MODEL_ID, loadDemoModel, startServer } from './test-support.js';

// The Vercel AI SDK's OpenAI-compatible provider against the server (demo model, CPU backend).
describe('the AI SDK openai-compatible provider', () => {
  let model: Model;
  let server: BitexitServer;
  let provider: ReturnType<typeof createOpenAICompatible>;

  beforeAll(async () => {
    model = await loadDemoModel();
    const started = await startServer(model, { apiKey: 'k' });
    server = started.server;
    provider = createOpenAICompatible({ name: 'bitexit', baseURL: `${started.url}/v1`, apiKey: 'k', includeUsage: true });
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  it('generateText: text, finish reason and usage', async () => {
    const r = await generateText({ model: provider(MODEL_ID), system: 'You tell stories.', prompt: 'Tell me a story about a dog.', maxOutputTokens: 10, temperature: 0, maxRetries: 0 });
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.finishReason).toBe('length');
    expect(r.usage.outputTokens).toBe(10);
    expect(r.usage.inputTokens).toBeGreaterThan(5);
  });

  it('streamText: the streamed text equals generateText with the same settings (greedy), usage included', async () => {
    const settings = { model: provider(MODEL_ID), prompt: 'Tell me a story about a bird.', maxOutputTokens: 16, temperature: 0, maxRetries: 0 };
    const whole = await generateText(settings);
    const result = streamText(settings);
    const parts: string[] = [];
    for await (const delta of result.textStream) parts.push(delta);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.join('')).toBe(whole.text);
    expect(await result.finishReason).toBe('length');
    expect((await result.usage).outputTokens).toBe(16);
  });

  it('stop sequences and errors', async () => {
    const greedy = await generateText({ model: provider(MODEL_ID), prompt: 'Hi', maxOutputTokens: 30, temperature: 0, maxRetries: 0 });
    const word = greedy.text.trim().split(/\s+/)[2]!;
    const stopped = await generateText({ model: provider(MODEL_ID), prompt: 'Hi', maxOutputTokens: 30, temperature: 0, stopSequences: [word], maxRetries: 0 });
    expect(stopped.text).toBe(greedy.text.slice(0, greedy.text.indexOf(word)));
    expect(stopped.finishReason).toBe('stop');

    const error = await generateText({ model: provider('no-such-model'), prompt: 'Hi', maxRetries: 0 }).catch((e: unknown) => e);
    expect(APICallError.isInstance(error)).toBe(true);
    expect((error as APICallError).statusCode).toBe(404);
    expect((error as APICallError).message).toContain("The model 'no-such-model' does not exist");
  });
});
