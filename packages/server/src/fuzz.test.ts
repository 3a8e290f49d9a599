import { registerCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, type Model } from '@bitexit/engine';
import { demoModelPath } from '@bitexit/model-demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BitexitServer } from './server.js';
import { MODEL_ID, startServer } from './test-support.js';

/**
 * Seeded mutation fuzzing of request bodies (issue #18's discipline for the
 * server): valid chat and text requests are mutated structurally (keys
 * dropped, values replaced by other types, huge or negative numbers, deep
 * nesting, unknown keys) and byte-wise (flips, insertions, truncations). Every
 * answer must be a 200 with a well-formed completion or a 4xx with OpenAI's
 * error shape — never a 500, a hang or a dropped connection — and the server
 * must still serve afterwards. The model runs with a 24-token context so
 * mutated requests that stay valid generate little.
 * SERVER_FUZZ_CASES=5000 SERVER_FUZZ_SEED=7 npx vitest run src/fuzz.test.ts for a longer campaign.
 */

const CASES = Number(process.env.SERVER_FUZZ_CASES ?? 300);
const SEED = Number(process.env.SERVER_FUZZ_SEED ?? 1);

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const BASES: { path: string; body: Record<string, unknown> }[] = [
  { path: '/v1/chat/completions', body: { model: MODEL_ID, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0.5, top_p: 0.9, seed: 3, stop: ['.'], stream: false } },
  { path: '/v1/chat/completions', body: { model: MODEL_ID, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], max_completion_tokens: 3, stream: true, stream_options: { include_usage: true } } },
  { path: '/v1/completions', body: { model: MODEL_ID, prompt: 'Once', max_tokens: 4, temperature: 0, stop: 'x', stream: false } },
  { path: '/v1/completions', body: { model: MODEL_ID, prompt: [1, 400, 300], max_tokens: 3, seed: 9, stream: true } },
];

function mutate(random: () => number, base: Record<string, unknown>): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const values = (): unknown =>
    pick([
      null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, 1e21, '', 'x', 'x'.repeat(5000), [], [1], {}, { a: 1 },
      JSON.parse('['.repeat(500) + ']'.repeat(500)), MODEL_ID, 'gpt-4', [{ role: 'user', content: 'x' }], { include_usage: 'yes' },
    ]);
  const body: Record<string, unknown> = structuredClone(base);
  const steps = 1 + Math.floor(random() * 3);
  for (let s = 0; s < steps; s++) {
    const keys = Object.keys(body);
    const choice = random();
    if (choice < 0.25 && keys.length) delete body[pick(keys)];
    else if (choice < 0.6 && keys.length) body[pick(keys)] = values();
    else if (choice < 0.7) body[pick(['foo', 'n', 'tools', 'logprobs', 'echo', 'best_of', '__proto__', 'constructor'])] = values();
    else if (choice < 0.85 && Array.isArray(body.messages) && body.messages.length) {
      const m = body.messages[Math.floor(random() * body.messages.length)] as unknown;
      if (typeof m === 'object' && m !== null && !Array.isArray(m)) (m as Record<string, unknown>)[pick(['role', 'content', 'name', 'extra'])] = values();
    }
  }
  let text = JSON.stringify(body);
  if (random() < 0.3) {
    const bytes = [...text];
    const at = Math.floor(random() * bytes.length);
    const kind = random();
    if (kind < 0.4) bytes[at] = String.fromCharCode(Math.floor(random() * 128));
    else if (kind < 0.7) bytes.splice(at, 0, pick(['{', '}', '[', ']', ',', ':', '"', '\\', '\u0000', 'é', '\ud800']));
    else bytes.length = at;
    text = bytes.join('');
  }
  return text;
}

describe('request body fuzzing', () => {
  let model: Model;
  let server: BitexitServer;
  let url: string;

  beforeAll(async () => {
    registerCpuBackend();
    model = await loadModel(demoModelPath(), { backend: 'cpu', contextLength: 24 });
    ({ server, url } = await startServer(model, { bodyLimit: 64 * 1024, requestTimeoutMs: 2000 }));
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  it(`${CASES} mutated bodies (seed ${SEED}): each a 200 completion or a 4xx error object, none a 500`, async () => {
    const random = rng(SEED);
    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const base = BASES[i % BASES.length]!;
      const body = mutate(random, base.body);
      const t0 = performance.now();
      const r = await fetch(url + base.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      const where = `case ${i}: ${r.status} for ${body.slice(0, 300)} → ${text.slice(0, 300)}`;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(performance.now() - t0, where).toBeLessThan(5000);
      if (r.status === 200) {
        if (r.headers.get('content-type')?.startsWith('text/event-stream')) {
          expect(text.endsWith('data: [DONE]\n\n'), where).toBe(true);
        } else {
          const parsed = JSON.parse(text) as { object: string; usage: { total_tokens: number } };
          expect(['chat.completion', 'text_completion'], where).toContain(parsed.object);
          expect(parsed.usage.total_tokens, where).toBeGreaterThan(0);
        }
        continue;
      }
      expect([400, 404, 413], where).toContain(r.status);
      const parsed = JSON.parse(text) as { error: Record<string, unknown> };
      expect(Object.keys(parsed.error).sort(), where).toEqual(['code', 'message', 'param', 'type']);
    }
    console.log(`server fuzz: ${CASES} cases, seed ${SEED}, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    // Both outcomes were exercised, so the mutations neither all break nor all keep the requests.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(CASES / 4);
    const ok = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL_ID, prompt: 'Once', max_tokens: 2 }) });
    expect(ok.status).toBe(200);
  }, 30_000 + CASES * 100);
});
