// The engine's generation options through the real CPU backend on stories260K:
// seeds, sampling filters (checked token by token against the model's own
// logits), repetition penalty, stop strings, EOS, AbortSignal, context length,
// statistics, streaming text and chat templates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitexitError } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { ContextLengthExceededError, loadModel, openModel, type Model } from '@bitexit/engine';
import { createCpuBackend } from './index.js';

const GGUF = fixturePath('stories260K/stories260K.gguf');
const PROMPT = 'Once upon a time';

type Tokenizer = Model['tokenizer'];

async function load(options: { contextLength?: number; tokenizer?: (t: Tokenizer) => Tokenizer } = {}): Promise<Model> {
  const source = await openModel(GGUF!);
  if (options.tokenizer && source.tokenizer) source.tokenizer = options.tokenizer(source.tokenizer);
  return loadModel(source, { backend: await createCpuBackend(), contextLength: options.contextLength ?? 512 });
}

/** A tokenizer that behaves like `t` except for the given fields. */
function override(t: Tokenizer, fields: Partial<Pick<Tokenizer, 'eosId' | 'stopIds' | 'chatTemplate'>>): Tokenizer {
  return {
    kind: t.kind,
    vocabSize: t.vocabSize,
    bosId: t.bosId,
    eosId: t.eosId,
    stopIds: t.stopIds,
    chatTemplate: t.chatTemplate,
    specialTokens: t.specialTokens,
    encode: (text, o) => t.encode(text, o),
    decode: (ids, o) => t.decode(ids, o),
    idToPiece: (id) => t.idToPiece(id),
    createStreamDecoder: (o) => t.createStreamDecoder(o),
    ...fields,
  };
}

function softmax(l: Float32Array): Float64Array {
  let m = -Infinity;
  for (const x of l) m = Math.max(m, x);
  const p = Float64Array.from(l, (x) => Math.exp(x - m));
  const z = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / z);
}

describe.skipIf(!GGUF)('engine generation on stories260K (CPU backend)', () => {
  let model: Model;
  let greedy: number[] = [];
  let greedyText = '';

  beforeAll(async () => {
    model = await load();
    const r = await model.generate(PROMPT, { temperature: 0, maxTokens: 40 }).result;
    greedy = r.tokens;
    greedyText = r.text;
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('nextLogits reuses the cached prefix and equals the full recomputation (extend, branch, shrink)', async () => {
    const ids = model.tokenizer.encode('Once upon a time, there was a little girl named Lily. She liked to play.', { addBos: true });
    const fresh = await load(); // the reference recomputes everything (logits() drops the cache)
    const check = async (ctx: number[]) => {
      const got = await model.nextLogits(ctx);
      const want = (await fresh.logits(ctx)).at(-1)!;
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
      expect(d, `context of ${ctx.length}`).toBeLessThan(1e-5);
    };
    for (let n = 1; n <= ids.length; n += 3) await check(ids.slice(0, n)); // extends token by token
    await check([...ids.slice(0, 6), 42, 43]); // branches off the cached prefix
    await check(ids.slice(0, 4)); // shrinks
    await expect(model.nextLogits([])).rejects.toThrow(/at least one token/);
    await fresh.dispose();
  });

  it('greedy reproduces the golden start, and its stats add up', async () => {
    expect(greedyText.startsWith(', there was a little girl named Lily.')).toBe(true);
    const r = await model.generate(PROMPT, { temperature: 0, maxTokens: 40 }).result;
    expect(r.tokens).toEqual(greedy);
    expect(r.stats.promptTokens).toBe(r.promptTokens.length);
    expect(r.promptTokens).toEqual(model.tokenizer.encode(PROMPT, { addBos: true }));
    expect(r.stats.generatedTokens).toBe(40);
    expect(r.stats.finishReason).toBe('length');
    expect(r.stats.backend).toBe('cpu');
    expect(r.stats.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(r.stats.totalMs).toBeGreaterThanOrEqual(r.stats.timeToFirstTokenMs);
    expect(r.stats.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(r.stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(r.stats.decodeTokensPerSecond)).toBe(true);
  });

  it('same seed → same tokens (also on a fresh model); different seeds → different tokens', async () => {
    const opts = { temperature: 1, maxTokens: 24 };
    const a = (await model.generate(PROMPT, { ...opts, seed: 7 }).result).tokens;
    const b = (await model.generate(PROMPT, { ...opts, seed: 7 }).result).tokens;
    expect(b).toEqual(a);
    const fresh = await load();
    try {
      expect((await fresh.generate(PROMPT, { ...opts, seed: 7 }).result).tokens).toEqual(a);
    } finally {
      await fresh.dispose();
    }
    const others = await Promise.all([8, 9, 10].map(async (seed) => (await model.generate(PROMPT, { ...opts, seed }).result).tokens.join()));
    expect(new Set([a.join(), ...others]).size).toBeGreaterThanOrEqual(3);
  });

  it('filters that keep only the best token equal greedy at any temperature and seed', async () => {
    for (const o of [{ topK: 1 }, { topP: 1e-9, topK: 0 }, { minP: 1, topK: 0, topP: 1 }]) {
      const r = await model.generate(PROMPT, { temperature: 5, seed: 3, maxTokens: 40, ...o }).result;
      expect(r.tokens, JSON.stringify(o)).toEqual(greedy);
    }
  });

  it('top-k, top-p and min-p: every sampled token is allowed by the model’s own distribution', async () => {
    const prompt = model.tokenizer.encode(PROMPT, { addBos: true });
    const cases: { o: { topK: number; topP: number; minP: number }; allowed: (p: Float64Array, id: number) => boolean }[] = [
      { o: { topK: 3, topP: 1, minP: 0 }, allowed: (p, id) => p.filter((x) => x > p[id]!).length < 3 },
      {
        o: { topK: 0, topP: 0.6, minP: 0 },
        // id is in the nucleus: the mass strictly above it is below topP
        allowed: (p, id) => p.reduce((s, x) => (x > p[id]! ? s + x : s), 0) < 0.6 + 1e-6,
      },
      { o: { topK: 0, topP: 1, minP: 0.2 }, allowed: (p, id) => p[id]! >= 0.2 * Math.max(...p) - 1e-6 },
    ];
    for (const { o, allowed } of cases) {
      let rejectedMass = 0;
      for (const seed of [1, 2]) {
        const r = await model.generate(prompt, { temperature: 1, seed, maxTokens: 30, ...o }).result;
        const logits = await model.logits([...prompt, ...r.tokens]);
        r.tokens.forEach((id, i) => {
          const p = softmax(logits[prompt.length - 1 + i]!);
          expect(allowed(p, id), `${JSON.stringify(o)} seed ${seed} step ${i}: token ${id} p=${p[id]}`).toBe(true);
          for (let j = 0; j < p.length; j++) if (!allowed(p, j)) rejectedMass += p[j]!;
        });
      }
      expect(rejectedMass, `${JSON.stringify(o)} filtered something`).toBeGreaterThan(0.5);
    }
  });

  it('repetition penalty changes the greedy continuation and repeats less', async () => {
    const r = await model.generate(PROMPT, { temperature: 0, maxTokens: 40, repetitionPenalty: 1.5 }).result;
    expect(r.tokens).not.toEqual(greedy);
    const repeats = (ids: number[]) => ids.length - new Set(ids).size;
    expect(repeats(r.tokens)).toBeLessThan(repeats(greedy));
  });

  it('stop strings end the text before the string; chunks concatenate to the text', async () => {
    const g = model.generate(PROMPT, { temperature: 0, maxTokens: 40, stop: [' Lily'] });
    let streamed = '';
    for await (const c of g) streamed += c.text;
    const r = await g.result;
    expect(r.stats.finishReason).toBe('stop');
    expect(r.text).toBe(greedyText.slice(0, greedyText.indexOf(' Lily')));
    expect(streamed).toBe(r.text);
  });

  it('streamed chunks equal the decoded tokens (high temperature: byte tokens included)', async () => {
    const g = model.generate(PROMPT, { temperature: 3, topK: 0, topP: 1, minP: 0, seed: 11, maxTokens: 120 });
    let streamed = '';
    for await (const c of g) streamed += c.text;
    const r = await g.result;
    expect(streamed).toBe(r.text);
    const prompt = r.promptTokens;
    const whole = model.tokenizer.decode([...prompt, ...r.tokens]);
    expect(whole).toBe(model.tokenizer.decode(prompt) + r.text);
  });

  it('an AbortSignal ends the generation (before it starts, or midway)', async () => {
    const pre = AbortSignal.abort();
    const r0 = await model.generate(PROMPT, { temperature: 0, maxTokens: 40, signal: pre }).result;
    expect(r0.stats.finishReason).toBe('abort');
    expect(r0.tokens).toEqual([]);
    const ac = new AbortController();
    const g = model.generate(PROMPT, { temperature: 0, maxTokens: 40, signal: ac.signal });
    let n = 0;
    for await (const _ of g) if (++n === 5) ac.abort();
    const r = await g.result;
    expect(r.stats.finishReason).toBe('abort');
    expect(r.tokens).toEqual(greedy.slice(0, 5));
    // The model is usable afterwards.
    expect((await model.generate(PROMPT, { temperature: 0, maxTokens: 40 }).result).tokens).toEqual(greedy);
  });

  it('invalid options are typed errors', async () => {
    for (const o of [{ temperature: -1 }, { topP: 0 }, { topP: 1.5 }, { minP: 2 }, { topK: 1.5 }, { repetitionPenalty: 0 }, { seed: -1 }, { maxTokens: -1 }]) {
      await expect(model.generate(PROMPT, o).result, JSON.stringify(o)).rejects.toBeInstanceOf(BitexitError);
    }
  });
});

describe.skipIf(!GGUF)('engine limits and special tokens on stories260K (CPU backend)', () => {
  it('context length: a prompt that cannot fit is ContextLengthExceededError; a full cache ends with "context"', async () => {
    const m = await load({ contextLength: 16 });
    try {
      const long = 'Once upon a time there was a little girl named Lily who loved to play';
      expect(m.tokenizer.encode(long, { addBos: true }).length).toBeGreaterThanOrEqual(16);
      await expect(m.generate(long, { temperature: 0 }).result).rejects.toBeInstanceOf(ContextLengthExceededError);
      await expect(m.generate(long, { temperature: 0 }).result).rejects.toThrow(/context holds 16/);
      const r = await m.generate(PROMPT, { temperature: 0, maxTokens: 100 }).result;
      expect(r.stats.finishReason).toBe('context');
      expect(r.promptTokens.length + r.tokens.length).toBe(17); // 16 positions fed, the last sampled token is returned
    } finally {
      await m.dispose();
    }
  });

  it('EOS ends the generation and is not part of the text', async () => {
    // stories260K never emits its EOS early; make the greedy path's 6th token the EOS.
    const base = await load();
    const ref = await base.generate(PROMPT, { temperature: 0, maxTokens: 10 }).result;
    await base.dispose();
    const eos = ref.tokens[5]!;
    expect(ref.tokens.indexOf(eos)).toBe(5);
    const m = await load({ tokenizer: (t) => override(t, { eosId: eos, stopIds: [] }) });
    try {
      const r = await m.generate(PROMPT, { temperature: 0, maxTokens: 10 }).result;
      expect(r.stats.finishReason).toBe('eos');
      expect(r.tokens).toEqual(ref.tokens.slice(0, 6));
      expect(r.text).toBe(m.tokenizer.decode([...r.promptTokens, ...ref.tokens.slice(0, 5)]).slice(m.tokenizer.decode(r.promptTokens).length));
    } finally {
      await m.dispose();
    }
  });

  it('chat renders the model’s template with the generation prompt and generates from it', async () => {
    const template =
      "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
    const m = await load({ tokenizer: (t) => override(t, { chatTemplate: template }) });
    try {
      const messages = [
        { role: 'system' as const, content: 'Tell stories.' },
        { role: 'user' as const, content: 'Once upon a time' },
      ];
      const r = await m.chat(messages, { temperature: 0, maxTokens: 8 }).result;
      const rendered = '<s>system: Tell stories.\nuser: Once upon a time\nassistant:';
      // BOS comes from the template (as a special token), not twice.
      expect(r.promptTokens).toEqual(m.tokenizer.encode(rendered, { addBos: false, parseSpecial: true }));
      expect(r.promptTokens.filter((id) => id === 1)).toHaveLength(1);
      expect(r.tokens).toHaveLength(8);
    } finally {
      await m.dispose();
    }
  });
});
