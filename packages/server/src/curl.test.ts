import { execFile, execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '@bitexit/engine';
import type { BitexitServer } from './server.js';
import { MODEL_ID, loadDemoModel, startServer } from './test-support.js';

function curlVersion(): string | null {
  try {
    return execFileSync('curl', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    return null;
  }
}

const version = curlVersion();
if (!version) console.warn('curl tests skipped: no curl on PATH (apt-get install curl)');

/** Runs curl; resolves to the body and the status code curl reports last (-w). */
function curl(args: string[]): Promise<{ body: string; status: number }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '30', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`curl failed: ${stderr || error.message}`));
      const cut = stdout.lastIndexOf('\n');
      resolve({ body: stdout.slice(0, cut), status: Number(stdout.slice(cut + 1)) });
    });
  });
}

describe.skipIf(!version)('curl', () => {
  let model: Model;
  let server: BitexitServer;
  let url: string;

  beforeAll(async () => {
    model = await loadDemoModel();
    ({ server, url } = await startServer(model, { apiKey: 'k' }));
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  const json = (body: unknown) => ['-H', 'Authorization: Bearer k', '-H', 'Content-Type: application/json', '-d', JSON.stringify(body)];

  it('non-streamed chat completion', async () => {
    const r = await curl([...json({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5 }), `${url}/v1/chat/completions`]);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { object: string; usage: { completion_tokens: number } };
    expect(body.object).toBe('chat.completion');
    expect(body.usage.completion_tokens).toBe(5);
  });

  it('streamed completion: data: lines, one JSON chunk each, ending with data: [DONE]', async () => {
    const r = await curl(['-N', ...json({ model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 6, stream: true, stream_options: { include_usage: true } }), `${url}/v1/completions`]);
    expect(r.status).toBe(200);
    const events = r.body.split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events[events.length - 1]).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as { id: string; usage?: unknown });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[chunks.length - 1]!.usage).toMatchObject({ completion_tokens: 6 });
  });

  it('a large body (curl sends Expect: 100-continue) is read and answered', async () => {
    const r = await curl(['-H', 'Expect: 100-continue', ...json({ model: MODEL_ID, prompt: 'Once upon a time. '.repeat(100), max_tokens: 2 }), `${url}/v1/completions`]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'context_length_exceeded', param: 'prompt' } });
  });

  it('errors: no key (401), unknown path (404), wrong method (405)', async () => {
    const noKey = await curl(['-H', 'Content-Type: application/json', '-d', '{}', `${url}/v1/completions`]);
    expect(noKey.status).toBe(401);
    expect(JSON.parse(noKey.body)).toMatchObject({ error: { type: 'invalid_request_error', param: null } });
    expect((await curl(['-H', 'Authorization: Bearer k', `${url}/v2/nothing`])).status).toBe(404);
    expect((await curl(['-H', 'Authorization: Bearer k', '-X', 'DELETE', `${url}/v1/models`])).status).toBe(405);
    expect((await curl([`${url}/health`])).status).toBe(200);
  });
});
