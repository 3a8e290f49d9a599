/**
 * Load test of a running server (loopback only, bounded): many concurrent
 * streaming clients, mixed lengths, some disconnecting early, 429s retried.
 * Every completed stream is checked against the same request run
 * non-streamed first (same seed; greedy or seeded sampling give the same
 * text), so a lost request, a mixed-up stream or a wrong usage is an error.
 * Used by `npm run loadtest` (scripts/loadtest.ts) and, CI-sized, by
 * src/loadtest.test.ts.
 */

export interface LoadTestOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080. */
  url: string;
  model: string;
  apiKey?: string;
  /** Concurrent clients. */
  clients: number;
  /** Streaming requests in all. */
  requests: number;
  /** Fraction of requests whose client disconnects after its first chunks. */
  disconnectFraction: number;
  /** Distinct requests (prompt, endpoint, length, seed) the load draws from; each has a reference answer. */
  distinct: number;
  prompts: string[];
  maxTokens: number[];
  seed?: number;
  /** Attempts per request (429 answers are retried after their Retry-After). Default 1000. */
  maxAttempts?: number;
  /** Multiplies the Retry-After wait (CI-sized runs use less than 1). Default 1. */
  retryScale?: number;
}

export interface LoadTestReport {
  requests: number;
  completed: number;
  disconnected: number;
  /** 429 answers (each followed by a retry). */
  rejected: number;
  /** Anything unexpected: other statuses, malformed events, a text or usage that differs from the reference. */
  errors: string[];
  wallSeconds: number;
  completionTokens: number;
  /** Completion tokens of completed streams per second of wall time (all clients together). */
  tokensPerSecond: number;
  /** Client-observed time to first token (request sent → first content chunk), queueing included, ms. */
  ttftMs: { p50: number; p99: number; max: number };
  /** Per stream: tokens after the first per second of streaming. */
  streamTokensPerSecond: { p50: number };
  /** One streamed request with the server otherwise idle (the longest of maxTokens, greedy), before the load. */
  alone: { ttftMs: number; tokensPerSecond: number };
}

interface RequestSpec {
  endpoint: 'chat' | 'text';
  body: Record<string, unknown>;
}

interface Reference {
  text: string;
  finish: string;
  completionTokens: number;
}

/** Deterministic choices, so two runs send the same load. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLoadTest(o: LoadTestOptions): Promise<LoadTestReport> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) };
  const random = rng(o.seed ?? 42);
  const specs: RequestSpec[] = Array.from({ length: o.distinct }, (_, i) => {
    const endpoint = i % 2 === 0 ? 'text' : 'chat';
    const prompt = o.prompts[i % o.prompts.length]!;
    const sampling = { max_tokens: o.maxTokens[i % o.maxTokens.length]!, seed: 1000 + i, temperature: i % 3 === 0 ? 0 : 0.8 };
    return {
      endpoint,
      body: { model: o.model, ...sampling, ...(endpoint === 'text' ? { prompt } : { messages: [{ role: 'user', content: prompt }] }) },
    };
  });
  const path = (s: RequestSpec) => `${o.url}/v1/${s.endpoint === 'chat' ? 'chat/completions' : 'completions'}`;
  const errors: string[] = [];

  // References: each distinct request once, not streamed.
  const references: Reference[] = [];
  for (const s of specs) {
    const r = await fetch(path(s), { method: 'POST', headers, body: JSON.stringify(s.body) });
    const body = (await r.json()) as { choices: { text?: string; message?: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
    if (r.status !== 200) throw new Error(`reference request failed (${r.status}): ${JSON.stringify(body)}`);
    const choice = body.choices[0]!;
    references.push({ text: choice.text ?? choice.message!.content, finish: choice.finish_reason, completionTokens: body.usage.completion_tokens });
  }

  const plan = Array.from({ length: o.requests }, (_, i) => ({
    spec: i % o.distinct,
    disconnectAfter: random() < o.disconnectFraction ? 1 + Math.floor(random() * 3) : 0,
  }));
  const ids = new Set<string>();
  const ttft: number[] = [];
  const streamRates: number[] = [];
  let completed = 0;
  let disconnected = 0;
  let rejected = 0;
  let completionTokens = 0;
  let next = 0;

  const runOne = async (n: number): Promise<void> => {
    const { spec: k, disconnectAfter } = plan[n]!;
    const s = specs[k]!;
    const ref = references[k]!;
    for (let attempt = 0; attempt < (o.maxAttempts ?? 1000); attempt++) {
      const controller = new AbortController();
      const t0 = performance.now();
      const r = await fetch(path(s), {
        method: 'POST',
        headers,
        body: JSON.stringify({ ...s.body, stream: true, stream_options: { include_usage: true } }),
        signal: controller.signal,
      });
      if (r.status === 429) {
        // As the openai client does: wait Retry-After (scaled for short tests), with jitter so retries spread out.
        rejected++;
        await r.body?.cancel();
        const after = Number(r.headers.get('retry-after') ?? 1) * 1000 * (o.retryScale ?? 1);
        await new Promise((res) => setTimeout(res, after * (0.5 + random())));
        continue;
      }
      if (r.status !== 200 || !r.headers.get('content-type')?.startsWith('text/event-stream')) {
        errors.push(`request ${n}: status ${r.status} ${await r.text()}`);
        return;
      }
      const events: string[] = [];
      const reader = r.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let firstAt = 0;
      let lastAt = 0;
      let contentChunks = 0;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            events.push(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            const now = performance.now();
            if (!firstAt) firstAt = now;
            lastAt = now;
            contentChunks++;
          }
          if (disconnectAfter && contentChunks >= disconnectAfter) {
            controller.abort();
            disconnected++;
            return;
          }
        }
      } catch (e) {
        errors.push(`request ${n}: stream failed: ${(e as Error).message}`);
        return;
      }
      const problem = checkStream(events, buffer, s, ref, ids);
      if (problem) {
        errors.push(`request ${n} (distinct ${k}): ${problem}`);
        return;
      }
      completed++;
      completionTokens += ref.completionTokens;
      ttft.push(firstAt - t0);
      if (ref.completionTokens > 1 && lastAt > firstAt) streamRates.push(((ref.completionTokens - 1) * 1000) / (lastAt - firstAt));
      return;
    }
    errors.push(`request ${n}: still 429 after ${o.maxAttempts ?? 1000} attempts`);
  };

  const alone = await measureAlone(o, headers);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.clients }, async () => {
      while (next < plan.length) await runOne(next++);
    }),
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  const lost = o.requests - completed - disconnected - errors.length;
  if (lost !== 0) errors.push(`${lost} requests unaccounted for`);
  return {
    requests: o.requests,
    completed,
    disconnected,
    rejected,
    errors,
    wallSeconds,
    completionTokens,
    tokensPerSecond: completionTokens / wallSeconds,
    ttftMs: { p50: percentile(ttft, 50), p99: percentile(ttft, 99), max: percentile(ttft, 100) },
    streamTokensPerSecond: { p50: percentile(streamRates, 50) },
    alone,
  };
}

/** One streamed greedy text completion of the longest length, nothing else running. */
async function measureAlone(o: LoadTestOptions, headers: Record<string, string>): Promise<LoadTestReport['alone']> {
  const maxTokens = Math.max(...o.maxTokens);
  const t0 = performance.now();
  const r = await fetch(`${o.url}/v1/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: o.model, prompt: o.prompts[0], max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  const reader = r.body!.getReader();
  let first = 0;
  let last = 0;
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    last = performance.now();
    if (!first) first = last;
    text += new TextDecoder().decode(value);
  }
  const tokens = Number(/"completion_tokens":(\d+)/.exec(text)?.[1] ?? 0);
  return { ttftMs: first - t0, tokensPerSecond: last > first && tokens > 1 ? ((tokens - 1) * 1000) / (last - first) : 0 };
}

/** Checks one complete event stream against OpenAI's format and the reference answer; returns the problem or null. */
function checkStream(events: string[], rest: string, s: RequestSpec, ref: Reference, ids: Set<string>): string | null {
  if (rest !== '') return `bytes after the last event: ${JSON.stringify(rest.slice(0, 80))}`;
  if (events[events.length - 1] !== 'data: [DONE]') return 'the stream does not end with data: [DONE]';
  const chunks: { id: string; object: string; choices: Record<string, unknown>[]; usage?: { completion_tokens: number } | null }[] = [];
  for (const e of events.slice(0, -1)) {
    if (!e.startsWith('data: ')) return `not a data event: ${e.slice(0, 80)}`;
    try {
      chunks.push(JSON.parse(e.slice(6)));
    } catch {
      return `event is not JSON: ${e.slice(0, 80)}`;
    }
  }
  const id = chunks[0]?.id;
  if (!id || chunks.some((c) => c.id !== id)) return 'chunks carry different ids';
  if (ids.has(id)) return `id ${id} was used by another response`;
  ids.add(id);
  const object = s.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  if (chunks.some((c) => c.object !== object)) return `a chunk is not a ${object}`;
  const usage = chunks[chunks.length - 1]!;
  if (usage.choices.length !== 0 || usage.usage?.completion_tokens !== ref.completionTokens) return `usage chunk ${JSON.stringify(usage.usage)} differs from the reference`;
  const withChoices = chunks.slice(0, -1);
  if (s.endpoint === 'chat' && (withChoices[0]!.choices[0]!.delta as { role?: string }).role !== 'assistant') return 'the first chunk has no assistant role';
  const finishes = withChoices.map((c) => c.choices[0]!.finish_reason).filter((f) => f !== null);
  if (finishes.length !== 1 || finishes[0] !== ref.finish) return `finish reasons ${JSON.stringify(finishes)}, reference ${ref.finish}`;
  const text = withChoices
    .map((c) => (s.endpoint === 'chat' ? ((c.choices[0]!.delta as { content?: string }).content ?? '') : (c.choices[0]!.text as string)))
    .join('');
  if (text !== ref.text) return `streamed text ${JSON.stringify(text.slice(0, 60))} differs from the non-streamed ${JSON.stringify(ref.text.slice(0, 60))}`;
  return null;
}
