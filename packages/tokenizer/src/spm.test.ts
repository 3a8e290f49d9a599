import { describe, expect, it } from 'vitest';
import { ModelFormatError, encodeGguf, readGguf, MemoryByteSource, ggufValue } from '@bitexit/format';
import { SentencePieceTokenizer, TokenType } from './index.js';
import { FIX, loadGguf, loadTok512, readJson, readUtf8, rng, streamChunks } from './test/helpers.js';

interface Greedy {
  prompt: string;
  prompt_ids: number[];
  generated_ids: number[];
  text_llama2c: string;
}

const haveStories = !!(FIX.gguf && FIX.tok512 && FIX.devText && FIX.devIds && FIX.greedy0 && FIX.greedy1 && FIX.greedy4);

describe.skipIf(!haveStories)('SentencePieceTokenizer on the stories260K vocabulary', async () => {
  const gguf = haveStories ? await loadGguf(FIX.gguf!) : null;
  const fromGguf = gguf ? SentencePieceTokenizer.fromGguf(gguf) : null;
  const fromBin = haveStories ? SentencePieceTokenizer.fromLlama2c(await loadTok512(FIX.tok512!)) : null;
  const devText = haveStories ? readUtf8(FIX.devText!) : '';
  const devIds = haveStories ? readUtf8(FIX.devIds!).trim().split(/\s+/).map(Number) : [];
  const greedy = haveStories ? [FIX.greedy0!, FIX.greedy1!, FIX.greedy4!].map((p) => readJson<Greedy>(p)) : [];

  it('reads the vocabulary and special ids from the GGUF', () => {
    const t = fromGguf!;
    expect(t.vocabSize).toBe(512);
    expect([t.bosId, t.eosId, t.unkId, t.padId]).toEqual([1, 2, 0, null]); // padding 0xFFFFFFFF means none
    expect(t.stopIds).toEqual([2]);
    expect(t.specialTokens).toEqual({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
    expect(t.idToPiece(259)).toBe('▁t');
    expect(t.idToPiece(3 + 0x41)).toBe('<0x41>');
    expect(t.tokenType(1)).toBe(TokenType.CONTROL);
    expect(t.tokenType(3)).toBe(TokenType.BYTE);
    expect(t.tokenType(259)).toBe(TokenType.NORMAL);
    expect(t.chatTemplate).toBeNull();
  });

  it('reproduces llama.cpp on the whole dev text: 268,082 ids (GGUF vocabulary), fast', () => {
    expect(devIds.length).toBe(268_082);
    const t0 = performance.now();
    const ids = fromGguf!.encode(devText);
    const ms = performance.now() - t0;
    expect(ids.length).toBe(devIds.length);
    expect(ids).toEqual(devIds);
    expect(ms).toBeLessThan(5000);
  });

  it('reproduces llama.cpp on the whole dev text from llama2.c tok512.bin', () => {
    expect(fromBin!.encode(devText)).toEqual(devIds);
  });

  it('decodes the whole dev text back exactly (BOS first: the dummy-prefix space is dropped)', () => {
    expect(fromGguf!.decode(devIds)).toBe(devText);
    expect(fromBin!.decode(devIds)).toBe(devText);
  });

  it('encodes the golden prompts to their ids', () => {
    for (const g of greedy) {
      expect(fromGguf!.encode(g.prompt)).toEqual(g.prompt_ids);
      expect(fromBin!.encode(g.prompt)).toEqual(g.prompt_ids);
    }
  });

  it("decodes the golden generations to llama2.c's text", () => {
    for (const g of greedy) {
      // run.c prints a final newline after generating.
      const expected = g.text_llama2c.replace(/\n$/, '');
      const ids = [...g.prompt_ids, ...g.generated_ids];
      expect(fromGguf!.decode(ids)).toBe(expected);
      expect(fromBin!.decode(ids)).toBe(expected);
      expect(streamChunks(fromGguf!.createStreamDecoder(), ids).join('')).toBe(expected);
    }
  });

  it('round-trips every paragraph of the dev text', () => {
    for (const p of devText.split('\n\n').slice(0, 1500)) {
      const ids = fromGguf!.encode(p);
      expect(ids[0]).toBe(1);
      expect(fromGguf!.decode(ids)).toBe(p);
    }
  });

  it('applies the dummy prefix and the leading-space rule', () => {
    const t = fromGguf!;
    const once = t.pieceToIdOf('▁Once')!;
    expect(once).toBe(403);
    expect(t.encode('Once', { addBos: false })).toEqual([once]); // dummy prefix even without BOS (llama.cpp)
    expect(t.decode([once])).toBe(' Once'); // no BOS before it: the space stays
    expect(t.decode([1, once])).toBe('Once'); // after BOS it is dropped (llama2.c, SentencePiece)
    expect(t.decode([1, once], { keepSpecial: true })).toBe('<s>Once');
    expect(t.decode([1, once, 2, 1, once])).toBe('OnceOnce');
    expect(t.encode('')).toEqual([1]);
    expect(t.encode('', { addBos: false })).toEqual([]);
    expect(t.encode('x', { addEos: true })).toEqual([1, ...t.encode('x', { addBos: false }), 2]);
  });

  it('falls back to <0xNN> byte tokens for characters outside the vocabulary', () => {
    const t = fromGguf!;
    const text = 'Lily 😀 ü!';
    const ids = t.encode(text, { addBos: false });
    const bytes = [...new TextEncoder().encode('😀')].map((b) => 3 + b);
    const at = ids.indexOf(bytes[0]);
    expect(at).toBeGreaterThan(0);
    expect(ids.slice(at, at + 4)).toEqual(bytes);
    expect(ids).toContain(3 + 0xc3); // ü = C3 BC
    expect(ids).toContain(3 + 0xbc);
    expect(t.decode([1, ...ids])).toBe(text);
    // The llama2.c vocabulary gives the same ids.
    expect(fromBin!.encode(text, { addBos: false })).toEqual(ids);
  });

  it('parses special tokens only when asked', () => {
    const t = fromGguf!;
    const hi = t.encode('Hi', { addBos: false });
    expect(t.encode('<s>Hi', { addBos: false, parseSpecial: true })).toEqual([1, ...hi]);
    const plain = t.encode('<s>Hi', { addBos: false });
    expect(plain).not.toContain(1);
    expect(t.decode([1, ...plain])).toBe('<s>Hi');
    expect(t.decode(t.encode('a</s>b', { parseSpecial: true }), { keepSpecial: true })).toBe('<s>a</s> b');
  });

  it('llama2.c vocabulary: spaces as " ", BOS/EOS renamed from "\\n<s>\\n"', () => {
    const t = fromBin!;
    expect(t.spaceMarker).toBe(' ');
    expect(t.idToPiece(1)).toBe('<s>');
    expect(t.idToPiece(2)).toBe('</s>');
    expect(t.idToPiece(259)).toBe(' t');
    expect(t.tokenType(3)).toBe(TokenType.BYTE);
    expect(t.tokenType(0)).toBe(TokenType.UNKNOWN);
  });

  it('stream decoder: never splits a character, concatenates to decode()', () => {
    const t = fromGguf!;
    const text = 'A 😀 and 日本 ü.';
    const ids = t.encode(text);
    const chunks = streamChunks(t.createStreamDecoder(), ids);
    expect(chunks.join('')).toBe(t.decode(ids));
    expect(chunks.join('')).toBe(text);
    for (const c of chunks) expect(c).not.toContain('\uFFFD');
    // the four byte tokens of 😀 emit nothing until the last one
    const first = ids.indexOf(3 + 0xf0);
    expect(chunks.slice(first, first + 3)).toEqual(['', '', '']);
    expect(chunks[first + 3]).toBe('😀');
    // an unfinished sequence is flushed as U+FFFD
    const d = t.createStreamDecoder();
    expect(d.push(3 + 0xf0)).toBe('');
    expect(d.push(3 + 0x9f)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    // continuation after a prompt keeps the leading space; after BOS it is dropped
    const once = t.pieceToIdOf('▁Once')!;
    expect(t.createStreamDecoder({ prefix: [1] }).push(once)).toBe('Once');
    expect(t.createStreamDecoder({ prefix: [1, once] }).push(once)).toBe(' Once');
  });
});

/** llama2.c's encode(): O(n^2) rescans for the best pair (highest score, leftmost). */
function naiveEncode(pieces: string[], scores: number[], text: string): number[] {
  const idOf = new Map(pieces.map((p, i) => [p, i]));
  const toks: string[] = Array.from('▁' + text.replaceAll(' ', '▁'));
  for (;;) {
    let best = -Infinity;
    let at = -1;
    for (let i = 0; i + 1 < toks.length; i++) {
      const id = idOf.get(toks[i] + toks[i + 1]);
      if (id !== undefined && scores[id] > best) {
        best = scores[id];
        at = i;
      }
    }
    if (at < 0) break;
    toks.splice(at, 2, toks[at] + toks[at + 1]);
  }
  return toks.map((p) => idOf.get(p)!);
}

describe('SentencePieceTokenizer merge order', () => {
  const base = ['<unk>', '<s>', '</s>', '▁', 'a', 'b', 'c'];

  it('merges the highest score first, ties to the leftmost pair', () => {
    const pieces = [...base, 'ab', 'ba', '▁a'];
    const tie = new SentencePieceTokenizer({ pieces, scores: [0, 0, 0, -9, -9, -9, -9, -1, -1, -2] });
    expect(tie.encode('aba', { addBos: false }).map((i) => pieces[i])).toEqual(['▁', 'ab', 'a']);
    const prefixFirst = new SentencePieceTokenizer({ pieces, scores: [0, 0, 0, -9, -9, -9, -9, -1, -1, 0] });
    expect(prefixFirst.encode('aba', { addBos: false }).map((i) => pieces[i])).toEqual(['▁a', 'ba']);
  });

  it('agrees with a naive llama2.c-style encoder on random vocabularies', () => {
    const rand = rng(42);
    const alphabet = ['▁', 'a', 'b', 'c'];
    for (let trial = 0; trial < 30; trial++) {
      const pieces = [...base];
      const seen = new Set(pieces);
      while (pieces.length < 40) {
        let p = '';
        const len = 2 + Math.floor(rand() * 4);
        for (let k = 0; k < len; k++) p += alphabet[Math.floor(rand() * alphabet.length)];
        if (!seen.has(p)) {
          seen.add(p);
          pieces.push(p);
        }
      }
      // few distinct scores, so ties are common
      const scores = pieces.map((_, i) => (i < base.length ? 0 : -Math.floor(rand() * 5)));
      const t = new SentencePieceTokenizer({ pieces, scores });
      for (let s = 0; s < 20; s++) {
        let text = '';
        const len = Math.floor(rand() * 30);
        for (let k = 0; k < len; k++) text += ['a', 'b', 'c', ' '][Math.floor(rand() * 4)];
        if (text.length === 0) continue;
        expect(t.encode(text, { addBos: false })).toEqual(naiveEncode(pieces, scores, text));
      }
    }
  });
});

describe('SentencePieceTokenizer errors', () => {
  it('rejects inconsistent vocabularies with ModelFormatError', () => {
    expect(() => new SentencePieceTokenizer({ pieces: ['a', 'b'], scores: [0] })).toThrow(ModelFormatError);
    expect(() => new SentencePieceTokenizer({ pieces: ['a', 'b'], scores: [0, 0], types: [1] })).toThrow(ModelFormatError);
    expect(() => new SentencePieceTokenizer({ pieces: ['a', 'b'], scores: [0, 0], bosId: 7 })).toThrow(/BOS id 7 is out of range/);
    expect(() => new SentencePieceTokenizer({ pieces: [], scores: [] })).toThrow(ModelFormatError);
  });

  it('throws a typed error for a byte it cannot encode (no byte tokens, no UNK)', () => {
    const t = new SentencePieceTokenizer({ pieces: ['▁', 'a'], scores: [0, 0], bosId: null, eosId: null, unkId: null });
    expect(t.encode('a')).toEqual([0, 1]);
    expect(() => t.encode('é')).toThrow(ModelFormatError);
  });

  it('fromGguf refuses a vocabulary that is not SentencePiece', async () => {
    const bytes = await encodeGguf({
      metadata: [
        ['tokenizer.ggml.model', ggufValue.string('gpt2')],
        ['tokenizer.ggml.tokens', ggufValue.strings(['a'])],
      ],
      tensors: [],
    });
    const g = await readGguf(new MemoryByteSource('bpe.gguf', bytes));
    expect(() => SentencePieceTokenizer.fromGguf(g)).toThrow(/bpe.gguf: tokenizer.ggml.model is 'gpt2'/);
  });

  it('decode ignores ids out of range', () => {
    const t = new SentencePieceTokenizer({ pieces: ['<unk>', '<s>', '</s>', '▁a'], scores: [0, 0, 0, 0], bosId: 1, eosId: 2, unkId: 0 });
    expect(t.decode([1, 3, 99, -1, 3])).toBe('a a');
  });
});
