// Hostile tokenizer inputs: random structural mutations of tokenizer.json and
// tokenizer_config.json, byte-level damage to tokenizer.json text, and GGUF
// vocabularies whose arrays and ids have the wrong types, lengths or values.
// Every case must either build a tokenizer that then encodes, decodes and
// stream-decodes without crashing, or throw a typed BitexitError with a
// one-line message; nothing may hang or allocate without bound.
import { describe, expect, it } from 'vitest';
import { BitexitError, encodeGguf, ggufValue, MemoryByteSource, readGguf } from '@bitexit/format';
import type { GgufMetadataValue } from '@bitexit/format';
import { HuggingFaceTokenizer, tokenizerFromGguf } from './index.js';
import type { Tokenizer } from './tokenizer.js';
import { FIX, loadGguf, readJson, readUtf8, rng } from './test/helpers.js';
import { syntheticByteLevelTokenizer } from './test/synthetic.js';
import { hostileGgufValue, hostileValue, mutateJson, pick } from './fuzz/mutators.js';

type Json = unknown;
type Rand = () => number;

const SAMPLE = 'Once upon a time, Lily said: "ünïcödé 日本 🙂" <|start_story|> <s>\n\t  end';

/** What a built tokenizer must survive. */
function exercise(t: Tokenizer, r: Rand): void {
  const ids = t.encode(SAMPLE, { addBos: true, parseSpecial: r() < 0.5 });
  expect(Array.isArray(ids)).toBe(true);
  t.decode(ids);
  const random = Array.from({ length: 40 }, () => (r() < 0.1 ? -1 : Math.floor(r() * (t.vocabSize + 5))));
  t.decode(random, { keepSpecial: true });
  const dec = t.createStreamDecoder({ prefix: ids.slice(0, 2) });
  let streamed = '';
  for (const id of random) streamed += dec.push(id);
  streamed += dec.flush();
  expect(typeof streamed).toBe('string');
}

/** Runs `build` and `exercise`; only typed errors may escape. Returns 'ok' | 'typed'. */
function survives(label: string, fn: () => void): 'ok' | 'typed' {
  const t0 = performance.now();
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof BitexitError)) throw new Error(`${label}: untyped ${String((e as Error)?.stack ?? e)}`);
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message, label).not.toMatch(/\n/);
    return 'typed';
  } finally {
    expect(performance.now() - t0, `${label} took too long`).toBeLessThan(2000);
  }
}

describe('HuggingFaceTokenizer.fromJSON on hostile tokenizer.json / tokenizer_config.json', () => {
  const documents: [string, Json, Json][] = [
    ['synthetic llama3', syntheticByteLevelTokenizer('llama3').json, syntheticByteLevelTokenizer('llama3').config],
    ['synthetic qwen2', syntheticByteLevelTokenizer('qwen2').json, syntheticByteLevelTokenizer('qwen2').config],
  ];
  if (FIX.ts656kJson && FIX.ts656kConfig) documents.push(['TinyStories-656K', readJson(FIX.ts656kJson), readJson(FIX.ts656kConfig)]);

  it.each(documents)('%s: 250 mutations of tokenizer.json', (name, json, config) => {
    const r = rng(0x5eed + name.length);
    const seen = { ok: 0, typed: 0 };
    for (let i = 0; i < 250; i++) {
      const doc = mutateJson(json, r);
      seen[survives(`${name} #${i}`, () => exercise(HuggingFaceTokenizer.fromJSON(doc, config), r))]++;
    }
    // Both outcomes occur: the mutations reach places that matter and places that do not.
    expect(seen.typed).toBeGreaterThan(10);
    expect(seen.ok).toBeGreaterThan(10);
  });

  it.each(documents)('%s: 250 mutations of tokenizer_config.json', (name, json, config) => {
    const r = rng(0xc0f + name.length);
    const seen = { ok: 0, typed: 0 };
    for (let i = 0; i < 250; i++) {
      const cfg = r() < 0.1 ? hostileValue(r) : mutateJson(config, r);
      seen[survives(`${name} config #${i}`, () => exercise(HuggingFaceTokenizer.fromJSON(json, cfg), r))]++;
    }
    expect(seen.ok).toBeGreaterThan(10);
  });

  it.skipIf(!FIX.ts656kJson)('TinyStories-656K: character damage inside the tokenizer.json text', () => {
    // Letters and digits replaced by others: the JSON mostly stays valid while
    // ids, vocabulary keys, merges and type names change.
    const text = readUtf8(FIX.ts656kJson!);
    const alnum = /[A-Za-z0-9]/;
    const r = rng(77);
    let parsed = 0;
    for (let i = 0; i < 150; i++) {
      const chars = text.split('');
      for (let k = 0; k < 1 + (i % 8); k++) {
        let at = Math.floor(r() * chars.length);
        while (!alnum.test(chars[at]!)) at = (at + 1) % chars.length;
        chars[at] = pick(r, ['0', '9', '7', 'a', 'Z', 'e', 'x']);
      }
      let doc: Json;
      try {
        doc = JSON.parse(chars.join(''));
      } catch {
        continue; // invalid JSON is the loader's ModelFormatError (tested in the engine)
      }
      parsed++;
      survives(`text damage #${i}`, () => exercise(HuggingFaceTokenizer.fromJSON(doc), r));
    }
    expect(parsed).toBeGreaterThan(50);
  });

  it('giant counts are refused before any allocation', () => {
    const base = syntheticByteLevelTokenizer('gpt2').json as Record<string, unknown>;
    const model = base.model as Record<string, unknown>;
    const cases: Json[] = [
      { ...base, model: { ...model, vocab: { a: 2 ** 31 } } },
      { ...base, model: { ...model, vocab: { a: 4e9 } } },
      { ...base, added_tokens: [{ id: 2 ** 32, content: 'x', special: true }] },
      { ...base, model: { ...model, merges: [['a', 'b'.repeat(1_000_000)]] } },
    ];
    for (const [i, doc] of cases.entries()) survives(`giant #${i}`, () => exercise(HuggingFaceTokenizer.fromJSON(doc), rng(i)));
  });
});

type Meta = Array<[string, GgufMetadataValue]>;

async function ggufOf(name: string, metadata: Meta) {
  return readGguf(new MemoryByteSource(name, await encodeGguf({ metadata, tensors: [] })));
}

async function fuzzGguf(name: string, base: Meta, seed: number, rounds: number): Promise<{ ok: number; typed: number }> {
  const r = rng(seed);
  const tokenizerKeys = base.filter(([k]) => k.startsWith('tokenizer.')).map(([k]) => k);
  const n = (base.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as unknown[]).length;
  const seen = { ok: 0, typed: 0 };
  for (let i = 0; i < rounds; i++) {
    let meta = base;
    for (let m = 0; m < 1 + Math.floor(r() * 2); m++) {
      const key = pick(r, tokenizerKeys);
      const v = hostileGgufValue(r, n);
      meta = v === null ? meta.filter(([k]) => k !== key) : meta.map(([k, old]): [string, GgufMetadataValue] => [k, k === key ? v : old]);
    }
    const g = await ggufOf(`${name}-${i}.gguf`, meta);
    seen[survives(`${name} #${i}`, () => exercise(tokenizerFromGguf(g), r))]++;
  }
  return seen;
}

describe('tokenizerFromGguf on hostile GGUF vocabularies', () => {
  it.skipIf(!FIX.gguf)("SentencePiece ('llama') vocabulary of stories260K: 200 mutations", async () => {
    const g = await loadGguf(FIX.gguf!);
    const base: Meta = [...g.metadata].filter(([k]) => k.startsWith('tokenizer.'));
    const seen = await fuzzGguf('spm', base, 11, 200);
    expect(seen.typed).toBeGreaterThan(20);
    expect(seen.ok).toBeGreaterThan(5);
  });

  it("byte-level BPE ('gpt2') vocabulary: 200 mutations", async () => {
    const { json } = syntheticByteLevelTokenizer('llama3');
    const model = json.model as { vocab: Record<string, number>; merges: Array<[string, string]> };
    const tokens: string[] = [];
    for (const [t, id] of Object.entries(model.vocab)) tokens[id] = t;
    const base: Meta = [
      ['tokenizer.ggml.model', ggufValue.string('gpt2')],
      ['tokenizer.ggml.pre', ggufValue.string('llama-bpe')],
      ['tokenizer.ggml.tokens', ggufValue.strings(tokens)],
      ['tokenizer.ggml.token_type', ggufValue.numbers('int32', tokens.map(() => 1))],
      ['tokenizer.ggml.merges', ggufValue.strings(model.merges.map(([a, b]) => `${a} ${b}`))],
      ['tokenizer.ggml.bos_token_id', ggufValue.uint32(0)],
      ['tokenizer.ggml.eos_token_id', ggufValue.uint32(1)],
    ];
    const seen = await fuzzGguf('gpt2', base, 12, 200);
    expect(seen.typed).toBeGreaterThan(20);
    expect(seen.ok).toBeGreaterThan(5);
  });

  it('an embedded tokenizer.huggingface.json with hostile content is a typed error or a working tokenizer', async () => {
    const { json } = syntheticByteLevelTokenizer('qwen2');
    const r = rng(5);
    for (let i = 0; i < 60; i++) {
      const g = await ggufOf(`emb-${i}.gguf`, [['tokenizer.huggingface.json', ggufValue.string(JSON.stringify(mutateJson(json, r)))]]);
      survives(`embedded #${i}`, () => exercise(tokenizerFromGguf(g), r));
    }
  });
});
