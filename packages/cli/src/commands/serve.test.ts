import { describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import { CapturedStream } from '../io.js';
import { GGUF, GOLDEN0, runCli } from '../test-helpers.js';

/** Starts `bitexit serve ...args` in-process on a free port; resolves once it listens. */
async function startServe(args: string[]) {
  const stderr = new CapturedStream(false);
  const controller = new AbortController();
  const exit = main(['serve', '--port', '0', '--backend', 'cpu', '--no-progress', ...args], {
    stdout: new CapturedStream(false),
    stderr,
    env: {},
    signal: controller.signal,
  });
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    url = /at (http:\/\/\S+)\/v1/.exec(stderr.text)?.[1];
    if (Date.now() > deadline) throw new Error(`serve did not start: ${stderr.text}`);
    const done = await Promise.race([exit, new Promise((r) => setTimeout(() => r(null), 50))]);
    if (done !== null && !url) throw new Error(`serve exited with ${String(done)}: ${stderr.text}`);
  }
  return { url, stderr, stop: async () => (controller.abort(), exit) };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('bitexit serve', () => {
  it('serves the embedded demo model with an API key until interrupted, then exits 0', async () => {
    const s = await startServe(['--api-key', 'sekret', '--chat-template', 'plain', '--max-queue', '2']);
    expect(s.stderr.text).toContain("serving 'bitexit-demo' (cpu, context 256");
    const auth = { authorization: 'Bearer sekret' };
    const models = await fetch(`${s.url}/v1/models`, { headers: auth });
    expect(await models.json()).toMatchObject({ object: 'list', data: [{ id: 'bitexit-demo', object: 'model' }] });
    expect((await fetch(`${s.url}/v1/models`)).status).toBe(401);
    const health = (await (await fetch(`${s.url}/health`)).json()) as { models: { max_queue: number }[] };
    expect(health.models[0]!.max_queue).toBe(2);
    const r = await post(`${s.url}/v1/chat/completions`, { model: 'bitexit-demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 }, auth);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(await s.stop()).toBe(0);
    expect(s.stderr.text).toContain('server stopped');
  });

  it.skipIf(!GGUF || !GOLDEN0)('greedy /v1/completions on stories260K reproduces the llama2.c golden text', async () => {
    const golden = GOLDEN0!;
    const s = await startServe(['--model', GGUF!]);
    try {
      const r = await post(`${s.url}/v1/completions`, { model: 'stories260K', prompt: golden.prompt, max_tokens: 64, temperature: 0 });
      const body = (await r.json()) as { choices: { text: string; finish_reason: string }[]; usage: Record<string, number> };
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(golden.text_llama2c.startsWith(golden.prompt + body.choices[0]!.text)).toBe(true);
      expect(body.choices[0]!.text.length).toBeGreaterThan(100);
      expect(body.usage).toEqual({ prompt_tokens: golden.prompt_ids.length, completion_tokens: 64, total_tokens: golden.prompt_ids.length + 64 });
      expect(body.choices[0]!.finish_reason).toBe('length');
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('--early-exit serves with the demo model\'s exit predictors', async () => {
    const s = await startServe(['--early-exit', '-c', '128']);
    try {
      expect(s.stderr.text).toContain("serving 'bitexit-demo' (cpu, context 128, early exit,");
      const r = await post(`${s.url}/v1/completions`, { model: 'bitexit-demo', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(8);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('refuses bad flags before loading anything', async () => {
    const unknownTemplate = await runCli(['serve', '--chat-template', 'no-such-template', '--no-progress']);
    expect(unknownTemplate.code).toBe(1);
    expect(unknownTemplate.stderr).toMatch(/^bitexit: no-such-template: chat template file not found \(built-in templates: chatml, llama2, plain\)\n$/);
    expect((await runCli(['serve', '--exits', 'x.gguf'])).code).toBe(2);
    expect((await runCli(['serve', '--port', '70000'])).code).toBe(2);
    expect((await runCli(['serve', '--port', 'abc'])).code).toBe(2);
  });

  it.skipIf(!GGUF)('says which address it could not listen on', async () => {
    const s = await startServe(['--model', GGUF!]);
    try {
      const port = new URL(s.url).port;
      const r = await runCli(['serve', '--model', GGUF!, '--port', port, '--backend', 'cpu', '--no-progress']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^bitexit: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      await s.stop();
    }
  });
});
