import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '@bitexit/engine';
import { BUILTIN_CHAT_TEMPLATES, loadChatTemplate } from './chat-templates.js';
import { createServer } from './server.js';
import { MODEL_ID, loadDemoModel, startServer } from './test-support.js';

let model: Model;
beforeAll(async () => {
  model = await loadDemoModel();
});
afterAll(async () => {
  await model?.dispose();
});

const post = (url: string, body: unknown, init: RequestInit = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('queue', () => {
  it('429 when the queue is full; a queued request whose client leaves is dropped; the rest complete in order', async () => {
    const log: string[] = [];
    const { server, url } = await startServer(model, { maxQueue: 1, log: (l) => log.push(l) });
    try {
      const running = new AbortController();
      const a = await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once', max_tokens: 200, stream: true }, { signal: running.signal });
      const reader = a.body!.getReader();
      await reader.read(); // A is generating
      const queued = new AbortController();
      const b = post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once', max_tokens: 2 }, { signal: queued.signal }).catch((e: Error) => e);
      const health = async () => ((await (await fetch(`${url}/health`)).json()) as { models: { running: number; queued: number }[] }).models[0]!;
      let h = await health();
      for (let i = 0; h.queued < 1 && i < 200; i++) h = await health();
      expect(h).toMatchObject({ running: 1, queued: 1 });

      const c = await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once', max_tokens: 2 });
      expect(c.status).toBe(429);
      expect(c.headers.get('retry-after')).toBe('1');
      expect(await c.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'queue_full' } });

      queued.abort();
      expect(await b).toBeInstanceOf(Error);
      await waitFor(() => log.some((l) => l.includes('cancelled while queued')), 'B dropped');
      running.abort();
      await waitFor(() => log.some((l) => l.includes('finish=abort')), 'A cancelled');

      const d = await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once', max_tokens: 2 });
      expect(d.status).toBe(200);
      expect(await health()).toMatchObject({ running: 0, queued: 0 });
    } finally {
      await server.close();
    }
  });
});

describe('disconnects', () => {
  it('a client that leaves a non-streamed request cancels its generation', async () => {
    const log: string[] = [];
    const { server, url } = await startServer(model, { log: (l) => log.push(l) });
    try {
      const controller = new AbortController();
      const pending = post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once', max_tokens: 250, temperature: 0 }, { signal: controller.signal }).catch((e: Error) => e);
      await new Promise((r) => setTimeout(r, 300));
      controller.abort();
      expect(await pending).toBeInstanceOf(Error);
      await waitFor(() => log.some((l) => l.includes('finish=abort')), 'the generation to end');
      expect(Number(/completion_tokens=(\d+)/.exec(log[0]!)![1])).toBeLessThan(250);
    } finally {
      await server.close();
    }
  });
});

describe('failures', () => {
  it('a generation that fails mid-stream ends its stream with an error event; the next request is served', async () => {
    // The real model, with a generate() whose stream breaks after three chunks (as a lost GPU would).
    const failing = Object.create(model, {
      generate: {
        value: (ids: number[], options: object) => {
          const inner = model.generate(ids, options);
          let settle!: { resolve: (r: unknown) => void; reject: (e: Error) => void };
          const result = new Promise((resolve, reject) => (settle = { resolve, reject }));
          result.catch(() => undefined);
          return {
            result,
            async *[Symbol.asyncIterator]() {
              let n = 0;
              for await (const chunk of inner) {
                yield chunk;
                if (++n === 3) {
                  const e = new Error('device lost');
                  settle.reject(e);
                  throw e;
                }
              }
              settle.resolve(await inner.result);
            },
          };
        },
      },
    }) as Model;
    const log: string[] = [];
    const server = await createServer({ models: [{ model: failing, id: MODEL_ID }], log: (l) => log.push(l) });
    const url = await server.listen({ port: 0 });
    try {
      const r = await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 20, temperature: 0, stream: true });
      expect(r.status).toBe(200);
      const events = (await r.text()).split('\n\n').filter(Boolean);
      expect(events).not.toContain('data: [DONE]');
      expect(JSON.parse(events[events.length - 1]!.slice(6))).toEqual({
        error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: 'internal_error' },
      });
      expect(log.some((l) => l.startsWith('error: Error: device lost'))).toBe(true);
      // The failed request released the model: a short one (ending before the third chunk) completes.
      const ok = await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Once', max_tokens: 2, stream: true });
      expect(await ok.text()).toContain('data: [DONE]');
      const health = (await (await fetch(`${url}/health`)).json()) as { models: { running: number }[] };
      expect(health.models[0]!.running).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('chat templates', () => {
  it('a model without a chat template refuses chat completions with a 400 naming the fix; completions still work', async () => {
    expect(model.tokenizer.chatTemplate).toBeNull();
    const server = await createServer({ models: [{ model, id: MODEL_ID }] });
    const url = await server.listen({ port: 0 });
    try {
      const r = await post(`${url}/v1/chat/completions`, { model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }] });
      expect(r.status).toBe(400);
      const body = (await r.json()) as { error: { message: string; code: string; param: string } };
      expect(body.error).toMatchObject({ code: 'no_chat_template', param: 'messages' });
      expect(body.error.message).toContain('--chat-template FILE|NAME (built-in: chatml, llama2, plain)');
      expect((await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Hi', max_tokens: 2 })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('every built-in template renders; a template that raises gives a 400 with its message', async () => {
    for (const name of Object.keys(BUILTIN_CHAT_TEMPLATES)) expect(await loadChatTemplate(name)).toBe(BUILTIN_CHAT_TEMPLATES[name]);
    const server = await createServer({ models: [{ model, id: MODEL_ID, chatTemplate: BUILTIN_CHAT_TEMPLATES.llama2 }] });
    const url = await server.listen({ port: 0 });
    try {
      const r = await post(`${url}/v1/chat/completions`, {
        model: MODEL_ID,
        messages: [
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
        ],
      });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toContain('roles must alternate');
      const ok = await post(`${url}/v1/chat/completions`, { model: MODEL_ID, messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'Hi' }], max_tokens: 2 });
      expect(ok.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('content parts are joined and developer messages count as system', async () => {
    const { server, url } = await startServer(model);
    try {
      const asParts = await post(`${url}/v1/chat/completions`, {
        model: MODEL_ID,
        messages: [{ role: 'developer', content: 'Be kind.' }, { role: 'user', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] }],
        max_tokens: 6,
        temperature: 0,
      });
      const asText = await post(`${url}/v1/chat/completions`, {
        model: MODEL_ID,
        messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hello' }],
        max_tokens: 6,
        temperature: 0,
      });
      const [x, y] = (await Promise.all([asParts.json(), asText.json()])) as { choices: { message: { content: string } }[]; usage: unknown }[];
      expect(x!.choices[0]!.message.content).toBe(y!.choices[0]!.message.content);
      expect(x!.usage).toEqual(y!.usage);
    } finally {
      await server.close();
    }
  });
});

describe('CORS', () => {
  it('answers preflights and marks JSON and streamed responses with the allowed origin', async () => {
    const { server, url } = await startServer(model, { cors: 'http://app.example', apiKey: 'k' });
    try {
      const pre = await fetch(`${url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('http://app.example');
      const streamed = await post(`${url}/v1/completions`, { model: MODEL_ID, prompt: 'Hi', max_tokens: 2, stream: true }, {
        headers: { 'content-type': 'application/json', authorization: 'Bearer k', origin: 'http://app.example' },
      });
      expect(streamed.headers.get('access-control-allow-origin')).toBe('http://app.example');
      expect(await streamed.text()).toContain('data: [DONE]');
      const other = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k', origin: 'http://evil.example' } });
      // The header names the one allowed origin; the browser refuses it for any other page.
      expect(other.headers.get('access-control-allow-origin')).toBe('http://app.example');
    } finally {
      await server.close();
    }
  });
});

describe('models and defaults', () => {
  it('serves several models under their names, each with its own queue; /v1/completions defaults to 16 tokens', async () => {
    const server = await createServer({ models: [{ model, id: 'first' }, { model, id: 'second' }], maxQueue: 3 });
    const url = await server.listen({ port: 0 });
    try {
      const list = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(list.data.map((m) => m.id)).toEqual(['first', 'second']);
      const [a, b] = await Promise.all(
        ['first', 'second'].map(async (id) => (await post(`${url}/v1/completions`, { model: id, prompt: 'Once upon a time', temperature: 0 })).json()),
      );
      expect(a).toMatchObject({ model: 'first', usage: { completion_tokens: 16 } });
      expect(b).toMatchObject({ model: 'second', usage: { completion_tokens: 16 } });
      expect((a as { choices: unknown }).choices).toEqual((b as { choices: unknown }).choices);
      const health = (await (await fetch(`${url}/health`)).json()) as { models: { id: string; max_queue: number }[] };
      expect(health.models.map((m) => [m.id, m.max_queue])).toEqual([
        ['first', 3],
        ['second', 3],
      ]);
    } finally {
      await server.close();
    }
  });
});

describe('createServer', () => {
  it('refuses bad options with typed errors', async () => {
    await expect(createServer({ models: [] })).rejects.toThrow(/at least one model/);
    await expect(createServer({ models: [{ model }], maxQueue: -1 })).rejects.toThrow(/maxQueue/);
    await expect(createServer({ models: [{ model }, { model }] })).rejects.toThrow(/two served models are named 'bitexit-demo'/);
  });
});
