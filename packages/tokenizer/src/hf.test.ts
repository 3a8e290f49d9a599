import { describe, expect, it } from 'vitest';
import { Tokenizer as LibTokenizer } from '@huggingface/tokenizers';
import { ModelFormatError } from '@bitexit/format';
import { HuggingFaceTokenizer } from './index.js';
import { FIX, fnv1a, readJson, readUtf8, streamChunks } from './test/helpers.js';
import { syntheticByteLevelTokenizer, SYNTHETIC_CASES } from './test/synthetic.js';
import golden from './test/rust-golden.json';

/**
 * Reference ids in test/rust-golden.json come from the Rust `tokenizers`
 * crate (npm package `tokenizers` 0.23.2, its Node binding), produced by
 * scripts/gen-rust-golden.mjs.
 */
interface RustCase {
  text: string;
  parseSpecial: number[];
  plain: number[];
  decoded: string;
}
interface Rust656Case {
  text: string;
  ids: number[];
  withBos: number[];
}
const G = golden as unknown as Record<'llama3' | 'qwen2' | 'gpt2', RustCase[]> & {
  tinystories656k: {
    wholeDev: { count: number; fnv1a: number; first: number[]; last: number[] };
    first200Paragraphs: { count: number; fnv1a: number };
    cases: Rust656Case[];
  };
};

const have656 = !!(FIX.ts656kJson && FIX.ts656kConfig && FIX.devText);

describe.skipIf(!have656)('HuggingFaceTokenizer on TinyStories-656K (BPE, byte fallback, Prepend/Replace normalizer)', () => {
  const json = have656 ? readJson(FIX.ts656kJson!) : null;
  const config = have656 ? readJson(FIX.ts656kConfig!) : null;
  const t = have656 ? HuggingFaceTokenizer.fromJSON(json, config) : (null as unknown as HuggingFaceTokenizer);
  const devText = have656 ? readUtf8(FIX.devText!) : '';
  const paragraphs = devText.split('\n\n');

  it('reads special ids and flags from tokenizer_config.json', () => {
    expect(t.vocabSize).toBe(2048);
    expect([t.bosId, t.eosId, t.unkId]).toEqual([1, 2, 0]);
    expect(t.addBos).toBe(true);
    expect(t.stopIds).toEqual([2]);
    expect(t.specialTokens).toEqual({ bos_token: '<|start_story|>', eos_token: '<|end_story|>', unk_token: '<unk>', pad_token: '<unk>' });
    expect(t.chatTemplate).toBeNull();
    expect(t.idToPiece(80)).toBe('▁');
  });

  it("'Once upon a time' → pieces of the vocabulary", () => {
    // Normalizer: Prepend '▁' + spaces → '▁': '▁Once▁upon▁a▁time'. The vocabulary has
    // 'On' (147), 'ce▁' (201) and the long merge 'upon▁a▁tim' (282); '▁O' is no merge, so '▁' stays alone.
    const ids = t.encode('Once upon a time', { addBos: false });
    expect(ids.map((i) => t.idToPiece(i))).toEqual(['▁', 'On', 'ce▁', 'upon▁a▁tim', 'e']);
    expect(ids).toEqual([80, 147, 201, 282, 57]);
    expect(t.encode('Once upon a time')).toEqual([1, 80, 147, 201, 282, 57]);
    expect(t.decode([1, ...ids])).toBe('Once upon a time');
  });

  it('matches the Rust tokenizers crate on edge cases', () => {
    for (const c of G.tinystories656k.cases) {
      expect(t.encode(c.text, { addBos: false, parseSpecial: true }), JSON.stringify(c.text)).toEqual(c.ids);
      expect(t.encode(c.text, { parseSpecial: true }), JSON.stringify(c.text)).toEqual(c.withBos);
    }
  });

  it('matches the Rust tokenizers crate on the whole dev text (one 540 KB word) and per paragraph', () => {
    const all = t.encode(devText, { addBos: false });
    expect(all.length).toBe(G.tinystories656k.wholeDev.count);
    expect(all.slice(0, 40)).toEqual(G.tinystories656k.wholeDev.first);
    expect(all.slice(-20)).toEqual(G.tinystories656k.wholeDev.last);
    expect(fnv1a(all)).toBe(G.tinystories656k.wholeDev.fnv1a);
    const per: number[] = [];
    for (const p of paragraphs.slice(0, 200)) per.push(...t.encode(p, { addBos: false }));
    expect(per.length).toBe(G.tinystories656k.first200Paragraphs.count);
    expect(fnv1a(per)).toBe(G.tinystories656k.first200Paragraphs.fnv1a);
  });

  it("agrees with @huggingface/tokenizers' own BPE model on dev paragraphs", () => {
    const lib = new LibTokenizer(json as object, config as object);
    for (const p of paragraphs.slice(0, 300)) {
      expect(t.encode(p, { addBos: false, parseSpecial: true })).toEqual(lib.encode(p, { add_special_tokens: false }).ids);
    }
  });

  it('round-trips dev paragraphs whose characters are all in the vocabulary', () => {
    let checked = 0;
    for (const p of paragraphs.slice(0, 1000)) {
      const ids = t.encode(p);
      if (ids.includes(0)) continue; // characters outside the vocabulary became <unk>
      expect(t.decode(ids)).toBe(p);
      checked++;
    }
    expect(checked).toBeGreaterThan(900);
  });

  it('unknown characters become one fused <unk>, dropped by decode unless keepSpecial', () => {
    const ids = t.encode('Hello 😀😀 world', { addBos: false });
    expect(ids.filter((i) => i === 0)).toHaveLength(1);
    expect(t.decode(ids)).toBe('Hello  world');
    expect(t.decode(ids, { keepSpecial: true })).toBe('Hello <unk> world');
  });

  it('special tokens are parsed only with parseSpecial (normalized added tokens match after the normalizer)', () => {
    expect(t.encode('<|start_story|>Once', { addBos: false, parseSpecial: true })).toEqual([1, 147, 682]);
    expect(t.encode('<|start_story|>Once', { addBos: false })).not.toContain(1);
  });

  it('Strip decoder: only the first space of the whole text goes (after BOS is skipped)', () => {
    expect(t.decode([1, 80, 147])).toBe('On');
    expect(t.decode([1, 80, 147], { keepSpecial: true })).toBe('<|start_story|> On');
    expect(t.decode([80, 80, 147])).toBe(' On');
    expect(streamChunks(t.createStreamDecoder(), [1, 80, 147]).join('')).toBe('On');
    // continuation after a prompt: the prompt's text already consumed the strip
    expect(streamChunks(t.createStreamDecoder({ prefix: [1, 147] }), [80, 147]).join('')).toBe(' On');
  });

  it('stream decoding of paragraphs concatenates to decode()', () => {
    for (const p of paragraphs.slice(0, 100)) {
      const ids = t.encode(p);
      expect(streamChunks(t.createStreamDecoder(), ids).join('')).toBe(t.decode(ids));
    }
  });
});

describe.each(['llama3', 'qwen2', 'gpt2'] as const)('HuggingFaceTokenizer, synthetic byte-level BPE (%s)', (flavour) => {
  const { json, config } = syntheticByteLevelTokenizer(flavour);
  const t = HuggingFaceTokenizer.fromJSON(json, config);

  it('matches the Rust tokenizers crate: ids with and without special parsing, decode', () => {
    const cases = G[flavour];
    expect(cases.map((c) => c.text)).toEqual(SYNTHETIC_CASES);
    for (const c of cases) {
      const ids = t.encode(c.text, { addBos: false, parseSpecial: true });
      expect(ids, JSON.stringify(c.text)).toEqual(c.parseSpecial);
      expect(t.encode(c.text, { addBos: false }), JSON.stringify(c.text)).toEqual(c.plain);
      expect(t.decode(ids, { keepSpecial: true })).toBe(c.decoded);
      expect(streamChunks(t.createStreamDecoder({ keepSpecial: true }), ids).join('')).toBe(c.decoded);
    }
  });

  it('byte-level: a character split across tokens is streamed whole', () => {
    const ids = t.encode('😀', { addBos: false });
    expect(ids.map((i) => t.idToPiece(i))).toEqual(['ðŁĺ', 'Ģ']); // F0 9F 98 | 80
    const d = t.createStreamDecoder();
    expect(d.push(ids[0])).toBe('');
    expect(d.push(ids[1])).toBe('😀');
    expect(d.flush()).toBe('');
    const d2 = t.createStreamDecoder();
    expect(d2.push(ids[0])).toBe('');
    expect(d2.flush()).toBe('\uFFFD');
  });

  it('non-special added tokens are always parsed and kept by decode', () => {
    const tool = t.tokenToId('<tool>')!;
    expect(t.encode('a<tool>b', { addBos: false })).toContain(tool);
    expect(t.decode(t.encode('a<tool>b', { addBos: false }))).toBe('a<tool>b');
  });

  if (flavour === 'llama3') {
    it('BOS/EOS/stop ids and chat template from the config', () => {
      expect(t.idToPiece(t.bosId!)).toBe('<|begin_of_text|>');
      expect(t.idToPiece(t.eosId!)).toBe('<|eot_id|>');
      expect(t.addBos).toBe(true); // from the TemplateProcessing post-processor
      expect(t.stopIds.map((i) => t.idToPiece(i)).sort()).toEqual(['<|end_of_text|>', '<|eot_id|>']);
      expect(t.chatTemplate).toContain('bos_token');
      const ids = t.encode('Hi');
      expect(ids[0]).toBe(t.bosId);
      expect(t.decode(ids)).toBe('Hi');
      expect(t.decode(ids, { keepSpecial: true })).toBe('<|begin_of_text|>Hi');
    });
  } else {
    it('no BOS when the config says so', () => {
      expect(t.bosId).toBeNull();
      expect(t.addBos).toBe(false);
      expect(t.idToPiece(t.eosId!)).toBe('<|end_of_text|>');
      expect(t.encode('Hi')).toEqual(t.encode('Hi', { addBos: true }));
    });
  }
});

describe('HuggingFaceTokenizer details checked against Rust', () => {
  // Metaspace pre-tokenizer/decoder, prepend_scheme 'first', split false. Expected values were
  // printed by the Rust crate for this exact tokenizer.json.
  const json = {
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    model: { type: 'BPE', unk_token: null, fuse_unk: false, byte_fallback: false, vocab: { '▁': 0, a: 1, '▁▁': 2, '▁a': 3, b: 4 }, merges: ['▁ ▁', '▁ a'] },
  };
  const t = HuggingFaceTokenizer.fromJSON(json);

  it('Metaspace decoder drops every replacement char of the first token', () => {
    expect(t.decode([2, 1, 0, 1])).toBe('a a');
    expect(t.decode([3, 1, 2, 1])).toBe('aa  a');
  });

  it('Metaspace prepend_scheme first', () => {
    expect(t.encode('  a a', { addBos: false })).toEqual([2, 1, 3]);
    expect(t.encode('a', { addBos: false })).toEqual([3]);
  });

  it('Metaspace split: true splits words at the replacement (the JS port does not)', () => {
    const withSuffixMerge = (split: boolean) => {
      const j = structuredClone(json) as typeof json & { model: { vocab: Record<string, number>; merges: string[] } };
      j.pre_tokenizer.split = split;
      j.model.vocab['a▁'] = 5;
      j.model.merges.push('a ▁');
      return HuggingFaceTokenizer.fromJSON(j);
    };
    expect(withSuffixMerge(true).encode('a a  b', { addBos: false })).toEqual([3, 3, 0, 0, 4]);
    expect(withSuffixMerge(false).encode('a a  b', { addBos: false })).toEqual([3, 3, 2, 4]);
  });
});

describe('HuggingFaceTokenizer errors', () => {
  it('rejects malformed tokenizer.json with ModelFormatError', () => {
    expect(() => HuggingFaceTokenizer.fromJSON(42)).toThrow(ModelFormatError);
    expect(() => HuggingFaceTokenizer.fromJSON({})).toThrow(/tokenizer.json: model: Invalid input/);
    expect(() => HuggingFaceTokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 'x' }, merges: [] } })).toThrow(ModelFormatError);
    expect(() =>
      HuggingFaceTokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, added_tokens: [{ id: 'x', content: 3 }] }),
    ).toThrow(ModelFormatError);
    expect(() => HuggingFaceTokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, decoder: { type: 'CTC' } })).toThrow(
      /unsupported tokenizer decoder type 'CTC'/,
    );
    expect(() => HuggingFaceTokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] } }, 'nope')).toThrow(ModelFormatError);
    // a hostile id must not allocate a giant table
    expect(() =>
      HuggingFaceTokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, added_tokens: [{ id: 5e9, content: 'x' }] }),
    ).toThrow(/added_tokens\[0\]\.id: Too big/);
  });

  it('a tokenizer without decoder joins tokens with spaces (as Rust)', () => {
    const t = HuggingFaceTokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] } });
    expect(t.decode([0, 1, 0])).toBe('a b a');
    expect(t.decode([])).toBe('');
  });
});
