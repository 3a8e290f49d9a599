// ChatSession (@bitexit/engine) through the real CPU backend on stories260K with an explicit
// chat template (the model carries none): KV reuse across turns, history export/import,
// the context overflow policy, abort, and the typed errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath } from '@bitexit/format/node';
import { ChatSession, ContextLengthExceededError, InvalidOptionError, loadModel, NoChatTemplateError, type Model } from '@bitexit/engine';
import { createCpuBackend } from './index.js';

const GGUF = fixturePath('stories260K/stories260K.gguf');

/** Plain-text turns; the answer follows "A:" exactly as the generation prompt leaves it. */
const TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n" +
  "{% elif m.role == 'user' %}Q: {{ m.content }}\n{% else %}A:{{ m.content }}\n{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}A:{% endif %}';

const GREEDY = { temperature: 0, maxTokens: 12 };

async function load(contextLength = 512): Promise<Model> {
  return loadModel(GGUF!, { backend: await createCpuBackend(), contextLength });
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

describe.skipIf(!GGUF)('ChatSession on stories260K (CPU backend)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await load();
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('the second turn prefills only the new tokens, and answers as a fresh model given the whole history', async () => {
    const session = new ChatSession(model, { chatTemplate: TEMPLATE, systemPrompt: 'Stories for kids.' });
    const first = session.prompt('Tell me about a cat.', GREEDY);
    let streamed = '';
    for await (const chunk of first) streamed += chunk.text;
    const r1 = await first.result;
    expect(streamed).toBe(r1.text);
    expect(r1.text.length).toBeGreaterThan(0);

    const r2 = await session.prompt('And a dog?', GREEDY).result;
    // The cache held turn 1's prompt and all its answer tokens but the last (never fed back).
    const inCache = [...r1.promptTokens, ...r1.tokens.slice(0, -1)];
    const reused = commonPrefix(r2.promptTokens, inCache);
    expect(r2.stats.cachedPromptTokens).toBe(reused);
    expect(reused).toBeGreaterThanOrEqual(r1.promptTokens.length);
    const prefilled = r2.stats.promptTokens - r2.stats.cachedPromptTokens;
    // New tokens: at most the re-tokenised tail of the answer plus "\nQ: And a dog?\nA:".
    const tail = model.tokenizer.encode('\nQ: And a dog?\nA:', { addBos: false }).length;
    expect(prefilled).toBeLessThanOrEqual(tail + 2);
    expect(prefilled).toBeLessThan(r2.stats.promptTokens / 3);

    expect(session.getHistory()).toEqual([
      { role: 'system', content: 'Stories for kids.' },
      { role: 'user', content: 'Tell me about a cat.' },
      { role: 'assistant', content: r1.text },
      { role: 'user', content: 'And a dog?' },
      { role: 'assistant', content: r2.text },
    ]);

    // Same answer from a model that prefills the whole conversation.
    const fresh = await load();
    const full = await fresh.chat(session.getHistory().slice(0, 4), { ...GREEDY, chatTemplate: TEMPLATE }).result;
    expect(full.stats.cachedPromptTokens).toBe(0);
    expect(full.promptTokens).toEqual(r2.promptTokens);
    expect(full.tokens).toEqual(r2.tokens);
    await fresh.dispose();
  });

  it('setHistory / getHistory round-trip; reset keeps the system prompt', async () => {
    const a = new ChatSession(model, { chatTemplate: TEMPLATE, systemPrompt: 'S.' });
    await a.prompt('One.', GREEDY).result;
    const saved = a.getHistory();
    const b = new ChatSession(model, { chatTemplate: TEMPLATE });
    b.setHistory(saved);
    expect(b.systemPrompt).toBe('S.');
    expect(b.getHistory()).toEqual(saved);
    const ra = await a.prompt('Two.', GREEDY).result;
    const rb = await b.prompt('Two.', GREEDY).result;
    expect(rb.promptTokens).toEqual(ra.promptTokens);
    expect(rb.tokens).toEqual(ra.tokens);

    b.reset();
    expect(b.getHistory()).toEqual([{ role: 'system', content: 'S.' }]);
    b.setHistory([{ role: 'user', content: 'hi' }]);
    expect(b.systemPrompt).toBeNull();
    expect(() => b.setHistory([{ role: 'user', content: 'x' }, { role: 'system', content: 'late' }])).toThrow(InvalidOptionError);
    expect(() => b.setHistory([{ role: 'robot' as 'user', content: 'x' }])).toThrow(InvalidOptionError);
  });

  it('overflow: the oldest whole turns leave the context, the system prompt stays; too long a message throws', async () => {
    const small = await load(96);
    try {
      const session = new ChatSession(small, { chatTemplate: TEMPLATE, systemPrompt: 'Kids.', reserveTokens: 24 });
      const turns: { dropped: number; prompt: number; cached: number }[] = [];
      for (let t = 0; t < 8; t++) {
        const r = await session.prompt(`Story ${t}?`, { temperature: 0, maxTokens: 16 }).result;
        expect(r.stats.promptTokens + 24).toBeLessThanOrEqual(96);
        turns.push({ dropped: session.droppedMessages, prompt: r.stats.promptTokens, cached: r.stats.cachedPromptTokens });
        const prompt = small.tokenizer.decode(r.promptTokens);
        expect(prompt.startsWith('Kids.\n')).toBe(true); // the system prompt is never dropped
        expect(prompt).toContain(`Q: Story ${t}?\nA:`);
      }
      const dropped = turns.map((t) => t.dropped);
      expect(dropped.at(-1)).toBeGreaterThan(0);
      expect(dropped.every((d) => d % 2 === 0)).toBe(true); // whole user+assistant turns only
      expect(dropped).toEqual([...dropped].sort((x, y) => x - y)); // the window only moves forward
      expect(session.getHistory()).toHaveLength(1 + 16); // the history itself keeps everything
      // Drops leave room for more turns: a turn without a drop reuses the whole previous prompt.
      const steady = turns.filter((t, i) => i > 0 && t.dropped === turns[i - 1]!.dropped);
      expect(steady.length).toBeGreaterThan(0);
      for (const t of steady) expect(t.cached).toBeGreaterThanOrEqual(turns[turns.indexOf(t) - 1]!.prompt);
      expect(new Set(dropped).size).toBeGreaterThan(1);

      const long = 'once upon a time '.repeat(40);
      const historyBefore = session.getHistory();
      await expect(session.prompt(long, GREEDY).result).rejects.toBeInstanceOf(ContextLengthExceededError);
      expect(session.getHistory()).toEqual(historyBefore);
    } finally {
      await small.dispose();
    }
  });

  it('abort: a partial answer is kept; an answer aborted before it starts leaves the history unchanged', async () => {
    const session = new ChatSession(model, { chatTemplate: TEMPLATE });
    const controller = new AbortController();
    const gen = session.prompt('Hello.', { temperature: 0, maxTokens: 50, signal: controller.signal });
    let n = 0;
    for await (const _ of gen) if (++n === 3) controller.abort();
    const r = await gen.result;
    expect(r.stats.finishReason).toBe('abort');
    expect(r.tokens.length).toBe(3);
    expect(session.getHistory()).toEqual([
      { role: 'user', content: 'Hello.' },
      { role: 'assistant', content: r.text },
    ]);

    const r2 = await session.prompt('Again.', { signal: AbortSignal.abort() }).result;
    expect(r2.stats.finishReason).toBe('abort');
    expect(session.getHistory()).toHaveLength(2);

    // Breaking out of the iteration is an abort too.
    for await (const _ of session.prompt('Once more.', { temperature: 0, maxTokens: 50 })) break;
    expect(session.getHistory()).toHaveLength(4);
    expect(session.getHistory()[2]).toEqual({ role: 'user', content: 'Once more.' });
  });

  it('turns started together run one after the other', async () => {
    const session = new ChatSession(model, { chatTemplate: TEMPLATE });
    const [a, b] = await Promise.all([session.prompt('First.', GREEDY).result, session.prompt('Second.', GREEDY).result]);
    expect(session.getHistory().map((m) => m.content)).toEqual(['First.', a.text, 'Second.', b.text]);
    expect(b.stats.cachedPromptTokens).toBeGreaterThanOrEqual(a.promptTokens.length);
  });

  it('a model without a chat template needs the chatTemplate option; bad options are typed errors', () => {
    expect(model.tokenizer.chatTemplate).toBeNull();
    expect(() => new ChatSession(model)).toThrow(NoChatTemplateError);
    expect(() => new ChatSession(model)).toThrow(/chatTemplate option/);
    expect(() => model.chat([{ role: 'user', content: 'hi' }])).toThrow(NoChatTemplateError);
    expect(() => new ChatSession(model, { chatTemplate: TEMPLATE, reserveTokens: 512 })).toThrow(InvalidOptionError);
    expect(() => new ChatSession(model, { chatTemplate: TEMPLATE, reserveTokens: -1 })).toThrow(InvalidOptionError);
  });
});
