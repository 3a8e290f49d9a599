// Regression tests for the findings of issue #18 (hostile tokenizer.json files
// and GGUF vocabularies). Each case must end in a typed error naming the field
// (or, for API misuse, a TokenizerArgumentError), quickly, without a crash.
import { describe, expect, it } from 'vitest';
import { BitexitError, encodeGguf, ggufValue, MemoryByteSource, ModelFormatError, readGguf } from '@bitexit/format';
import type { GgufMetadataValue } from '@bitexit/format';
import { HuggingFaceTokenizer, SentencePieceTokenizer, TokenizerArgumentError, tokenizerFromGguf } from './index.js';
import type { Tokenizer } from './tokenizer.js';
import { syntheticByteLevelTokenizer } from './test/synthetic.js';
import { rng } from './fuzz/mutators.js';

type Json = Record<string, unknown>;

/** Runs fn and returns the typed error it must throw within `ms`. */
function typedError(fn: () => unknown, ms = 1000): BitexitError {
  const t0 = performance.now();
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  const took = performance.now() - t0;
  if (!(err instanceof BitexitError)) throw new Error(`expected a BitexitError, got ${err === null ? 'no error' : String((err as Error).stack ?? err)}`);
  expect(took, 'time to the typed error (ms)').toBeLessThan(ms);
  expect(err.message).not.toMatch(/\n/);
  return err;
}

/** A small Metaspace/BPE tokenizer.json (the shape of Llama-2-style HF tokenizers). */
function metaspaceTokenizer(): Json {
  const vocab: Record<string, number> = { '<unk>': 0, '▁': 1, H: 2, e: 3, l: 4, o: 5, '▁H': 6, ll: 7, '▁He': 8 };
  return {
    version: '1.0',
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'BPE', unk_token: '<unk>', vocab, merges: ['▁ H', 'l l', '▁H e'] },
  };
}

function byteLevel(): Json {
  return structuredClone(syntheticByteLevelTokenizer('llama3').json) as Json;
}

/** Nested Sequence pre-tokenizers, built without recursion (as JSON.parse would give them). */
function nestedSequences(depth: number): Json {
  let inner: Json = { type: 'Metaspace', replacement: '▁' };
  for (let i = 0; i < depth; i++) inner = { type: 'Sequence', pretokenizers: [inner] };
  return inner;
}

describe('issue #18 finding 1: Metaspace with an empty replacement', () => {
  it('is refused at load time (encode used to loop without advancing)', () => {
    const json = metaspaceTokenizer();
    (json.pre_tokenizer as Json).replacement = '';
    const e = typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello world'));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toContain('pre_tokenizer.replacement');
  });
});

describe('issue #18 finding 2: deeply nested Sequences', () => {
  it.each([50_000, 10_000, 100])('pre_tokenizer nested %i deep is a typed error, not a stack overflow', (depth) => {
    const json = metaspaceTokenizer();
    json.pre_tokenizer = JSON.parse(JSON.stringify(nestedSequences(Math.min(depth, 1000)))); // JSON.stringify itself recurses
    if (depth > 1000) json.pre_tokenizer = nestedSequences(depth);
    const e = typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello'));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(/pre_tokenizer.*nested/);
  });

  it('a few nested Sequences, as real files may have, still load', () => {
    const json = metaspaceTokenizer();
    json.pre_tokenizer = nestedSequences(3);
    expect(HuggingFaceTokenizer.fromJSON(json).encode('Hello', { addBos: false })).toEqual([8, 7, 5]);
  });
});

type Meta = Array<[string, GgufMetadataValue]>;
async function gguf(metadata: Meta) {
  return readGguf(new MemoryByteSource('hostile.gguf', await encodeGguf({ metadata, tensors: [] })));
}

describe('issue #18 finding 3: GGUF special ids outside the vocabulary actually used', () => {
  it('eos id 614525732 with an embedded tokenizer.huggingface.json and no tokenizer.ggml.tokens', async () => {
    const g = await gguf([
      ['tokenizer.huggingface.json', ggufValue.string(JSON.stringify(metaspaceTokenizer()))],
      ['tokenizer.ggml.eos_token_id', ggufValue.uint32(614525732)],
    ]);
    const e = typedError(() => tokenizerFromGguf(g).encode('Hello', { addBos: true }));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toContain('tokenizer.ggml.eos_token_id');
  });

  it('ids valid for tokenizer.ggml.tokens but not for the embedded one-token vocabulary', async () => {
    const tokens = Array.from({ length: 2048 }, (_, i) => `t${i}`);
    const oneToken = { ...metaspaceTokenizer(), added_tokens: [], model: { type: 'BPE', vocab: { a: 0 }, merges: [] } };
    const g = await gguf([
      ['tokenizer.ggml.tokens', ggufValue.strings(tokens)],
      ['tokenizer.huggingface.json', ggufValue.string(JSON.stringify(oneToken))],
      ['tokenizer.ggml.bos_token_id', ggufValue.uint32(1)],
      ['tokenizer.ggml.eos_token_id', ggufValue.uint32(2000)],
    ]);
    const e = typedError(() => tokenizerFromGguf(g));
    expect(e.message).toMatch(/tokenizer\.ggml\.(bos|eos)_token_id/);
  });

  it('special ids of the wrong GGUF type are refused (the spec says uint32)', async () => {
    const g = await gguf([
      ['tokenizer.huggingface.json', ggufValue.string(JSON.stringify(metaspaceTokenizer()))],
      ['tokenizer.ggml.bos_token_id', ggufValue.float32(1.5)],
    ]);
    expect(typedError(() => tokenizerFromGguf(g)).message).toContain('tokenizer.ggml.bos_token_id');
  });
});

describe('GGUF vocabulary arrays of the types the spec gives them', () => {
  const spm = (scores: GgufMetadataValue, types: GgufMetadataValue): Meta => [
    ['tokenizer.ggml.model', ggufValue.string('llama')],
    ['tokenizer.ggml.tokens', ggufValue.strings(['<unk>', '<s>', '</s>', 'a'])],
    ['tokenizer.ggml.scores', scores],
    ['tokenizer.ggml.token_type', types],
  ];
  it('float32 scores and int32 token types load; other item types are refused naming the key', async () => {
    const ok = await gguf(spm(ggufValue.numbers('float32', [0, 0, 0, -1]), ggufValue.numbers('int32', [2, 3, 3, 1])));
    expect(tokenizerFromGguf(ok).vocabSize).toBe(4);
    const badScores = await gguf(spm(ggufValue.numbers('float64', [0, 0, 0, -1]), ggufValue.numbers('int32', [2, 3, 3, 1])));
    expect(typedError(() => tokenizerFromGguf(badScores)).message).toContain('tokenizer.ggml.scores has type array of float64, expected array of float32');
    const badTypes = await gguf(spm(ggufValue.numbers('float32', [0, 0, 0, -1]), ggufValue.numbers('uint8', [2, 3, 3, 1])));
    expect(typedError(() => tokenizerFromGguf(badTypes)).message).toContain('tokenizer.ggml.token_type has type array of uint8, expected array of int32');
  });
});

describe('issue #18 finding 4: odd value types', () => {
  const wordPiece = (vocab: unknown): Json => ({
    ...metaspaceTokenizer(),
    pre_tokenizer: { type: 'WhitespaceSplit' },
    decoder: null,
    added_tokens: [],
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  });
  const unigram = (vocab: unknown): Json => ({
    ...metaspaceTokenizer(),
    added_tokens: [],
    model: { type: 'Unigram', unk_id: 0, vocab },
  });

  it('WordPiece model.vocab that is a string', () => {
    const e = typedError(() => HuggingFaceTokenizer.fromJSON(wordPiece('[UNK] a b')).decode([0, 1]));
    expect(e.message).toContain('model.vocab');
  });

  it('Unigram piece that is not a string', () => {
    const e = typedError(() => {
      const t = HuggingFaceTokenizer.fromJSON(unigram([['<unk>', 0], [7, -1], ['▁H', -2]]));
      const d = t.createStreamDecoder();
      d.push(1);
    });
    expect(e.message).toContain('model.vocab[1]');
  });

  it('Split behavior that is not a string', () => {
    const json = byteLevel();
    ((json.pre_tokenizer as Json).pretokenizers as Json[])[0].behavior = 7;
    const e = typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello world'));
    expect(e.message).toContain('pre_tokenizer.pretokenizers[0].behavior');
  });

  it.each([true, -1, '5'])('WordPiece and Unigram vocab values like %j are refused, never returned as ids', (bad) => {
    const e1 = typedError(() => HuggingFaceTokenizer.fromJSON(wordPiece({ '[UNK]': 0, Hello: bad })).encode('Hello'));
    expect(e1.message).toContain('model.vocab.Hello');
    if (bad === -1) return; // a valid Unigram score
    const e2 = typedError(() => HuggingFaceTokenizer.fromJSON(unigram([['<unk>', 0], ['▁Hello', bad]])).encode('Hello'));
    expect(e2.message).toContain('model.vocab[1]');
  });
});

describe('issue #18 finding 5: configurations that made @huggingface/tokenizers unbounded', () => {
  it('[Split, ByteLevel] repeated 100 times (text doubled at each ByteLevel)', () => {
    const json = byteLevel();
    const pair = (json.pre_tokenizer as Json).pretokenizers as Json[];
    (json.pre_tokenizer as Json).pretokenizers = Array.from({ length: 100 }, () => pair).flat();
    const e = typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello world'));
    expect(e.message).toContain('pre_tokenizer');
  });

  it('[Split, ByteLevel] repeated 16 times is refused as too much growth', () => {
    const json = byteLevel();
    const pair = (json.pre_tokenizer as Json).pretokenizers as Json[];
    (json.pre_tokenizer as Json).pretokenizers = Array.from({ length: 16 }, () => pair).flat();
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello world')).message).toMatch(/grow/);
  });

  it('a Replace normalizer content of 6 MB', () => {
    const json = metaspaceTokenizer();
    json.normalizer = { type: 'Replace', pattern: { String: ' ' }, content: 'x'.repeat(6_000_000) };
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello world')).message).toContain('normalizer.content');
  });

  it('max_input_chars_per_word as a deeply nested array', () => {
    let nested: unknown = [100];
    for (let i = 0; i < 1000; i++) nested = [nested];
    const json: Json = {
      ...metaspaceTokenizer(),
      added_tokens: [],
      pre_tokenizer: { type: 'WhitespaceSplit' },
      decoder: null,
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: nested, vocab: { '[UNK]': 0, Hello: 1 } },
    };
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json).encode('Hello Hello')).message).toContain('model.max_input_chars_per_word');
  });

  it('a Unigram vocab entry nested 100,000 deep', () => {
    let nested: unknown = ['a', 0];
    for (let i = 0; i < 100_000; i++) nested = [nested];
    const json: Json = { ...metaspaceTokenizer(), added_tokens: [], model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], nested] } };
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json).decode([0, 1])).message).toMatch(/model.*nested/);
  });

  it('model.vocab as a 2,000,000-character string is refused at once', () => {
    const json = metaspaceTokenizer();
    (json.model as Json).vocab = 'v'.repeat(2_000_000);
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json), 1000).message).toContain('model.vocab'); // 11.9 s before
  });
});

describe('issue #18 finding 6: API misuse gives TokenizerArgumentError', () => {
  const tokenizers: Array<[string, () => Tokenizer]> = [
    ['HuggingFaceTokenizer', () => HuggingFaceTokenizer.fromJSON(metaspaceTokenizer())],
    [
      'SentencePieceTokenizer',
      () => new SentencePieceTokenizer({ pieces: ['<unk>', '<s>', '</s>', '▁', 'a'], scores: [0, 0, 0, -1, -2] }),
    ],
  ];
  it.each(tokenizers)('%s', (_name, make) => {
    const t = make();
    for (const bad of [1.5, Number.NaN, '3' as unknown as number, 2 ** 53]) {
      for (const call of [
        () => t.idToPiece(bad),
        () => t.decode([bad]),
        () => t.createStreamDecoder({ prefix: [bad] }),
        () => t.createStreamDecoder().push(bad),
      ]) {
        const e = typedError(call);
        expect(e).toBeInstanceOf(TokenizerArgumentError);
      }
    }
    expect(typedError(() => t.encode(42 as unknown as string))).toBeInstanceOf(TokenizerArgumentError);
    expect(typedError(() => t.decode('12' as unknown as number[]))).toBeInstanceOf(TokenizerArgumentError);
    // Integer ids out of range stay what the README says: ignored by decode, '' for idToPiece.
    expect(t.decode([-1, 10 ** 9])).toBe('');
    expect(t.idToPiece(10 ** 9)).toBe('');
  });
});

describe('findings of the fuzz campaign (npm run fuzz)', () => {
  it('gguf-vocab seed 7 case 841: Unigram with unk_id null returned null ids from encode', () => {
    const json: Json = {
      added_tokens: [{ id: 0, content: '<unk>', special: true }],
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
      model: { type: 'Unigram', unk_id: null, vocab: [['<unk>', 0], ['▁', -1], ['a', -3]] },
    };
    const t = HuggingFaceTokenizer.fromJSON(json);
    expect(t.encode('a a', { addBos: false })).toEqual([1, 2, 1, 2]);
    expect(typedError(() => t.encode('Once')).message).toContain('not in the vocabulary and the model has no unknown token');
  });
});

describe('fuzz campaign finding gguf-vocab seed 20261208 case 334537', () => {
  it('a model vocab id that an added token of the same content shadows still counts in vocabSize', () => {
    const json = metaspaceTokenizer();
    (json.model as { vocab: Record<string, number> }).vocab['<unk>'] = 100; // added_tokens still say <unk> is id 0
    const t = HuggingFaceTokenizer.fromJSON(json);
    expect(t.vocabSize).toBe(101);
    const ids = t.encode('Hello §', { addBos: false });
    for (const id of ids) expect(id).toBeLessThan(t.vocabSize);
    expect(ids).toContain(100);
    expect(t.idToPiece(100)).toBe('<unk>');
    expect(t.decode([100], { keepSpecial: true })).toBe('<unk>');
  });
});

describe('validation keeps the document as it is', () => {
  it("a '__proto__' token (zod's record output would drop it) stays in the vocabulary", () => {
    const json = JSON.parse('{"model":{"type":"BPE","vocab":{"a":0,"__proto__":1,"constructor":2},"merges":[],"ignore_merges":true},"pre_tokenizer":{"type":"WhitespaceSplit"}}');
    const t = HuggingFaceTokenizer.fromJSON(json);
    expect(t.vocabSize).toBe(3);
    expect(t.tokenToId('__proto__')).toBe(1);
    expect(t.encode('__proto__ constructor a', { addBos: false })).toEqual([1, 2, 0]);
  });

  it("a '__proto__' vocab entry with a bad id is still refused", () => {
    const json = JSON.parse('{"model":{"type":"WordPiece","unk_token":"a","vocab":{"a":0,"__proto__":"5"}}}');
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json)).message).toContain('model.vocab.__proto__');
  });
});

describe('decoder growth', () => {
  it('a decoder Replace that blows each token up 4096 times is refused', () => {
    const json = metaspaceTokenizer();
    json.decoder = { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: 'z'.repeat(4096) }, { type: 'Fuse' }] };
    expect(typedError(() => HuggingFaceTokenizer.fromJSON(json)).message).toMatch(/decoder may grow each token 4096 times/);
  });
});

describe('encode work is linear in the input', () => {
  const unigram: Json = {
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: { type: 'NFKC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' }] },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['▁', -1], ['a', -3], ['xy', -2]] },
  };

  it('encode seed 20261208 case 19200: a Unigram word of 16,000+ unknown chars (the library fused them in quadratic time)', () => {
    // Quadratic up to 16,383 chars per word (longer strings get a length-only hash in V8): 4 such words took ~14 s.
    const t = HuggingFaceTokenizer.fromJSON(unigram);
    const t0 = performance.now();
    expect(t.encode(`${'q'.repeat(16_000)} `.repeat(4))).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('consecutive unknown pieces become one UNK, as in Rust', () => {
    const t = HuggingFaceTokenizer.fromJSON(unigram);
    expect(t.encode('aqqa')).toEqual([1, 2, 0, 2]);
    expect(t.encode('xy')).toEqual([1, 3]);
  });
});

describe('added-token matching is linear in the text and leftmost-longest', () => {
  it('100,000 chars against a 16,000-char added token (88 s with the per-position trie walk)', () => {
    const doc = { added_tokens: [{ id: 1, content: 'a'.repeat(16_000) + 'b', special: false }], model: { type: 'BPE', vocab: { a: 0 }, merges: [] } };
    const t = HuggingFaceTokenizer.fromJSON(doc);
    const t0 = performance.now();
    const ids = t.encode('a'.repeat(100_000) + 'a'.repeat(16_000) + 'b');
    expect(performance.now() - t0).toBeLessThan(3000); // 88 s before
    expect(ids.filter((id) => id === 1)).toEqual([1]);
    expect(ids.length).toBe(100_001);
  });

  it('same splits as a naive leftmost-longest matcher on random tokens and texts', () => {
    const r = rng(1818);
    for (let round = 0; round < 300; round++) {
      const alphabet = ['a', 'b', 'c', '🙂'];
      const word = (max: number) => Array.from({ length: 1 + Math.floor(r() * max) }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
      const contents = [...new Set(Array.from({ length: 1 + Math.floor(r() * 6) }, () => word(4)))];
      const vocab: Record<string, number> = { a: 0, b: 1, c: 2, '🙂': 3 };
      const doc = {
        added_tokens: contents.map((content, i) => ({ id: 10 + i, content, special: false, normalized: false })),
        model: { type: 'BPE', vocab, merges: [] },
      };
      const t = HuggingFaceTokenizer.fromJSON(doc);
      const text = word(30);
      // Naive leftmost-longest over code points.
      const expected: number[] = [];
      for (let i = 0; i < text.length; ) {
        const best = contents.filter((c) => text.startsWith(c, i)).sort((x, y) => y.length - x.length)[0];
        if (best !== undefined) {
          expected.push(10 + contents.indexOf(best));
          i += best.length;
        } else {
          const ch = String.fromCodePoint(text.codePointAt(i)!);
          expected.push(vocab[ch]!);
          i += ch.length;
        }
      }
      expect(t.encode(text, { addBos: false }), `${JSON.stringify(contents)} on ${text}`).toEqual(expected);
    }
  });
});

describe('SentencePiece special-piece partition', () => {
  it('30,000 user-defined pieces do not make encode scan the text 30,000 times', () => {
    // Pieces that start like the text, so a scan per piece cannot skip ahead (6 s for 100,000 chars before).
    const pieces = ['<unk>', '<s>', '</s>', 'a', ...Array.from({ length: 30_000 }, (_, i) => `${'a'.repeat(1 + (i % 50))}<u${i}>`)];
    const types = pieces.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i === 3 ? 1 : 4));
    const t = new SentencePieceTokenizer({ pieces, scores: pieces.map(() => 0), types, unkId: 0 });
    const t0 = performance.now();
    const ids = t.encode('a'.repeat(100_000) + 'aa<u1>', { addBos: false });
    expect(performance.now() - t0).toBeLessThan(3000); // 6.8 s before
    expect(ids[ids.length - 1]).toBe(5);
  });
});
