import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '@bitexit/engine';
import type { BitexitServer } from './server.js';
import { MODEL_ID, loadDemoModel, startServer } from './test-support.js';

// The official `openai` npm client against the server on a loopback port (demo model, CPU backend).
describe('the openai client', () => {
  let model: Model;
  let server: BitexitServer;
  let client: OpenAI;
  const log: string[] = [];

  beforeAll(async () => {
    model = await loadDemoModel();
    const started = await startServer(model, { apiKey: 'test-key', log: (l) => log.push(l) });
    server = started.server;
    client = new OpenAI({ baseURL: `${started.url}/v1`, apiKey: 'test-key', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  const messages = [
    { role: 'system' as const, content: 'You tell short stories.' },
    { role: 'user' as const, content: 'Tell me a story about a cat.' },
  ];

  it('lists the model', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL_ID]);
    expect((await client.models.retrieve(MODEL_ID)).owned_by).toBe('bitexit');
  });

  it('chat completion, non-streamed: text, finish_reason and usage', async () => {
    const r = await client.chat.completions.create({ model: MODEL_ID, messages, max_tokens: 12, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.model).toBe(MODEL_ID);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(12);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 12);
    // The prompt is the system and user messages through the template: more tokens than the user message alone.
    expect(r.usage!.prompt_tokens).toBeGreaterThan(12);
  });

  it('chat completion, streamed: role first, then content, finish chunk, usage chunk; same text as non-streamed (greedy)', async () => {
    const request = { model: MODEL_ID, messages, max_completion_tokens: 24, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]!.message.content);
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish).toHaveLength(1);
    expect(finish[0]!.choices[0]!.finish_reason).toBe('length');
    const last = chunks[chunks.length - 1]!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('streamed without include_usage has no usage field', async () => {
    const stream = await client.chat.completions.create({ model: MODEL_ID, messages, max_tokens: 3, stream: true, seed: 7 });
    for await (const chunk of stream) expect(chunk).not.toHaveProperty('usage');
  });

  it('text completion, streamed and not, with the same seed gives the same text', async () => {
    const request = { model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 20, temperature: 0.9, seed: 1234 };
    const whole = await client.completions.create(request);
    expect(whole.object).toBe('text_completion');
    expect(whole.usage).toMatchObject({ completion_tokens: 20 });
    const stream = await client.completions.create({ ...request, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]!.text;
      finish = chunk.choices[0]!.finish_reason ?? finish;
    }
    expect(text).toBe(whole.choices[0]!.text);
    expect(finish).toBe('length');
  });

  it('stop strings end the text before the stop string, finish_reason stop', async () => {
    const greedy = await client.completions.create({ model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 40, temperature: 0 });
    const text = greedy.choices[0]!.text;
    const word = text.trim().split(/\s+/)[3]!;
    const stopped = await client.completions.create({ model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: [word, 'zzzz'] });
    expect(stopped.choices[0]!.text).toBe(text.slice(0, text.indexOf(word)));
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    const streamed = await client.completions.create({ model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: word, stream: true });
    let s = '';
    for await (const chunk of streamed) s += chunk.choices[0]!.text;
    expect(s).toBe(stopped.choices[0]!.text);
  });

  it('errors come back as the client\'s typed errors with OpenAI\'s fields', async () => {
    const unknown = await client.chat.completions.create({ model: 'gpt-4o', messages }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');

    const bad = await client.chat.completions.create({ model: MODEL_ID, messages, temperature: 3 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('temperature');

    const tooLong = await client.completions.create({ model: MODEL_ID, prompt: 'word '.repeat(400) }).catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tooLong as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('context_length_exceeded');

    const tools = await client.chat.completions
      .create({ model: MODEL_ID, messages, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] })
      .catch((e: unknown) => e);
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tools as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools');

    const wrongKey = new OpenAI({ baseURL: client.baseURL, apiKey: 'nope', maxRetries: 0 });
    const denied = await wrongKey.models.list().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((denied as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');

    // Still serving.
    const ok = await client.completions.create({ model: MODEL_ID, prompt: 'Once', max_tokens: 2 });
    expect(ok.choices[0]!.text.length).toBeGreaterThan(0);
  });

  it('a client that aborts a stream cancels its generation', async () => {
    const controller = new AbortController();
    const stream = await client.completions.create(
      { model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 200, temperature: 0, stream: true },
      { signal: controller.signal },
    );
    let n = 0;
    try {
      for await (const _chunk of stream) if (++n === 3) controller.abort();
    } catch {
      // The client may end the iteration quietly or with an abort error: either way the connection is closed.
    }
    expect(n).toBeLessThan(10);
    // The server notices the closed connection and ends the generation early.
    const deadline = Date.now() + 10_000;
    while (!log.some((l) => l.includes('finish=abort')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const line = log.find((l) => l.includes('finish=abort'))!;
    expect(line).toBeDefined();
    expect(Number(/completion_tokens=(\d+)/.exec(line)![1])).toBeLessThan(200);
  });
});
