// The provider through the real AI SDK (`ai` 7: generateText, streamText) on the embedded demo
// model (CPU backend) with an explicit plain-text chat template (the model carries none).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderRegistry, generateText, streamText, type ModelMessage } from 'ai';
import { NoSuchModelError, UnsupportedFunctionalityError } from '@ai-sdk/provider';
import { z } from 'zod';
import { demoModelPath } from '@bitexit/model-demo';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, NoChatTemplateError, type Model } from '@bitexit/engine';
import { bitexit, createBitexit, type BitexitLanguageModel } from './index.js';
import { bitexitFromFile } from './node.js';

const TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n" +
  "{% elif m.role == 'user' %}Q: {{ m.content }}\n{% else %}A:{{ m.content }}\n{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}A:{% endif %}';

const PROMPT = 'Tell me a story about a brave cat.';

describe('AI SDK provider on the demo model (CPU backend)', () => {
  let model: Model;
  let lm: BitexitLanguageModel;
  beforeAll(async () => {
    model = await loadModel(demoModelPath(), { backend: await createCpuBackend() });
    lm = bitexit(model, { chatTemplate: TEMPLATE });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('generateText: the engine’s own answer, with finish reason, usage and bitexit stats', async () => {
    const direct = await model.chat([{ role: 'user', content: PROMPT }], { chatTemplate: TEMPLATE, temperature: 0, maxTokens: 24 }).result;
    const r = await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 24 });
    expect(r.text).toBe(direct.text);
    expect(r.finishReason).toBe('length');
    expect(r.rawFinishReason).toBe('length');
    expect(r.usage.inputTokens).toBe(direct.stats.promptTokens);
    expect(r.usage.outputTokens).toBe(24);
    // The same prompt again: its K/V are still cached (all but the last token, which must run).
    expect(r.usage.inputTokenDetails.cacheReadTokens).toBe(direct.stats.promptTokens - 1);
    expect(r.warnings).toEqual([]);
    const stats = r.providerMetadata?.bitexit as Record<string, unknown>;
    expect(stats.backend).toBe('cpu');
    expect(stats.generatedTokens).toBe(24);
    expect(stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(r.response.modelId).toBe('bitexit-demo.gguf');
  });

  it('streamText: text deltas concatenate to the generateText answer; a longer conversation reuses the cache', async () => {
    const first = await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 16 });
    const result = streamText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 16 });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(first.text);
    expect(await result.finishReason).toBe('length');
    expect((await result.usage).outputTokens).toBe(16);
    expect(((await result.providerMetadata)?.bitexit as Record<string, unknown>).finishReason).toBe('length');

    const messages: ModelMessage[] = [
      { role: 'user', content: PROMPT },
      { role: 'assistant', content: first.text },
      { role: 'user', content: 'What happened next?' },
    ];
    const next = await generateText({ model: lm, messages, temperature: 0, maxOutputTokens: 8 });
    expect(next.usage.inputTokenDetails.cacheReadTokens).toBeGreaterThanOrEqual(first.usage.inputTokens!);
    expect(next.usage.inputTokenDetails.noCacheTokens).toBe(next.usage.inputTokens! - next.usage.inputTokenDetails.cacheReadTokens!);
  });

  it('sampling settings reach the engine: stop sequences, seed, topK', async () => {
    const free = await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 32 });
    const word = free.text.trim().split(/\s+/)[3]!;
    const stopped = await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 32, stopSequences: [word] });
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(word)));

    const sample = (seed: number) => generateText({ model: lm, prompt: PROMPT, temperature: 1.2, topP: 1, seed, maxOutputTokens: 24 });
    const [a, b, c] = [await sample(7), await sample(7), await sample(8)];
    expect(a.text).toBe(b.text);
    expect(c.text).not.toBe(a.text);
    const top1 = await generateText({ model: lm, prompt: PROMPT, temperature: 1.5, topK: 1, seed: 3, maxOutputTokens: 24 });
    expect(top1.text).toBe((await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 24 })).text);
    const penalised = await generateText({
      model: lm,
      prompt: PROMPT,
      temperature: 0,
      maxOutputTokens: 24,
      providerOptions: { bitexit: { repetitionPenalty: 1.5 } },
    });
    expect(penalised.text).not.toBe(top1.text);
    await expect(generateText({ model: lm, prompt: PROMPT, providerOptions: { bitexit: { nope: 1 } } })).rejects.toThrow(/unknown option providerOptions\.bitexit\.nope/);
  });

  it('unsupported settings are warnings, never silently ignored', async () => {
    (globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false; // checked here, not logged
    const r = await generateText({
      model: lm,
      prompt: PROMPT,
      temperature: 0,
      maxOutputTokens: 4,
      presencePenalty: 0.5,
      tools: { weather: { description: 'weather', inputSchema: z.object({ city: z.string() }) } },
    });
    const features = (r.warnings ?? []).map((w) => ('feature' in w ? w.feature : w.type));
    expect(features).toEqual(expect.arrayContaining(['tools', 'presencePenalty']));
    expect(r.toolCalls).toEqual([]);

    const json = await lm.doGenerate({ prompt: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }], responseFormat: { type: 'json' }, maxOutputTokens: 2 });
    expect(json.warnings).toEqual([expect.objectContaining({ type: 'unsupported', feature: 'responseFormat' })]);

    const streamed = await lm.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }], frequencyPenalty: 1, maxOutputTokens: 2 });
    const reader = streamed.stream.getReader();
    const first = await reader.read();
    expect(first.value).toEqual({ type: 'stream-start', warnings: [expect.objectContaining({ feature: 'frequencyPenalty' })] });
    await reader.cancel();
  });

  it('file parts and tool messages are refused with UnsupportedFunctionalityError', async () => {
    await expect(
      generateText({ model: lm, messages: [{ role: 'user', content: [{ type: 'file', data: new Uint8Array([1, 2, 3]), mediaType: 'image/png' }] }] }),
    ).rejects.toSatisfy((e: unknown) => UnsupportedFunctionalityError.isInstance(e));
  });

  it('abort: streamText stops decoding mid-answer; an aborted generateText rejects; the model stays usable', async () => {
    const controller = new AbortController();
    let aborted = false;
    const result = streamText({
      model: lm,
      prompt: PROMPT,
      temperature: 0,
      maxOutputTokens: 200,
      abortSignal: controller.signal,
      onAbort: () => {
        aborted = true;
      },
    });
    let deltas = 0;
    for await (const _ of result.textStream) if (++deltas === 3) controller.abort();
    expect(aborted).toBe(true);
    expect(deltas).toBeLessThan(10);

    await expect(generateText({ model: lm, prompt: PROMPT, abortSignal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    const after = await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 4 });
    expect(after.usage.outputTokens).toBe(4);
  });

  it('cancelling the stream ends the generation (the next call is not blocked)', async () => {
    const streamed = await lm.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }], maxOutputTokens: 500, temperature: 0 });
    const reader = streamed.stream.getReader();
    for (let i = 0; i < 5; i++) await reader.read();
    await reader.cancel();
    const t0 = performance.now();
    const r = await generateText({ model: lm, prompt: 'Hi', temperature: 0, maxOutputTokens: 2 });
    expect(r.usage.outputTokens).toBe(2);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('createBitexit: a ProviderV4 over named models, usable in a provider registry', async () => {
    const provider = createBitexit({ demo: { model, settings: { chatTemplate: TEMPLATE } } });
    expect(provider('demo')).toBe(provider.languageModel('demo'));
    expect(provider('demo').modelId).toBe('demo');
    const registry = createProviderRegistry({ local: provider });
    const r = await generateText({ model: registry.languageModel('local:demo'), prompt: PROMPT, temperature: 0, maxOutputTokens: 4 });
    expect(r.usage.outputTokens).toBe(4);
    expect(() => provider('nope')).toThrow(/no bitexit model named 'nope' \(known: demo\)/);
    expect(() => provider.embeddingModel('demo')).toThrow(/language models only/);
    try {
      provider.imageModel('demo');
      expect.unreachable();
    } catch (e) {
      expect(NoSuchModelError.isInstance(e)).toBe(true);
    }
  });

  it('a model without a chat template needs the chatTemplate setting', async () => {
    await expect(generateText({ model: bitexit(model), prompt: PROMPT })).rejects.toBeInstanceOf(NoChatTemplateError);
  });
});

describe('@bitexit/ai-provider/node', () => {
  it('bitexitFromFile loads the model on first use and disposes it', async () => {
    const lm = bitexitFromFile(demoModelPath(), { backend: 'cpu', chatTemplate: TEMPLATE });
    expect(lm.modelId).toBe('bitexit-demo.gguf');
    const r = await generateText({ model: lm, prompt: PROMPT, temperature: 0, maxOutputTokens: 8 });
    expect(r.usage.outputTokens).toBe(8);
    await lm.dispose();
    await expect(generateText({ model: lm, prompt: PROMPT, maxOutputTokens: 2 })).rejects.toThrow(/disposed/);
  });

  it('a missing file is a typed error from the first call', async () => {
    const lm = bitexitFromFile('/nonexistent/model.gguf');
    await expect(generateText({ model: lm, prompt: PROMPT })).rejects.toThrow(/nonexistent\/model\.gguf/);
    await lm.dispose();
  });
});

describe('browser entry', () => {
  it('bundles for the browser with no Node built-in', async () => {
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [new URL('./index.ts', import.meta.url).pathname],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      conditions: ['bitexit-source'],
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.some((p) => p.endsWith('language-model.ts'))).toBe(true);
    expect(inputs.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(out.outputFiles[0]!.text).not.toMatch(/from ["']node:|require\(["']node:/);
  });
});
