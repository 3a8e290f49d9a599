import { describe, expect, it } from 'vitest';
import { HuggingFaceTokenizer, SentencePieceTokenizer } from './index.js';
import type { Tokenizer } from './index.js';
import { rng, streamChunks } from './test/helpers.js';
import { syntheticByteLevelTokenizer } from './test/synthetic.js';

/** A SentencePiece vocabulary with byte tokens, built in memory (no fixture needed). */
function syntheticSpm(): SentencePieceTokenizer {
  const pieces = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  for (const p of ['▁', 'a', 'b', 'c', 'é', '▁a', 'ab', '▁ab', 'é▁', '日']) {
    pieces.push(p);
    types.push(1);
  }
  return new SentencePieceTokenizer({ pieces, types, scores: pieces.map((_, i) => -i), bosId: 1, eosId: 2, unkId: 0 });
}

const SAMPLES = ['a', 'b', 'c', ' ', 'é', '日', '😀', '😃', 'ü', '\n', 'ab', 'Ω', '🇫🇷', '\u0301'];

function randomText(rand: () => number): string {
  let s = '';
  const n = 1 + Math.floor(rand() * 12);
  for (let i = 0; i < n; i++) s += SAMPLES[Math.floor(rand() * SAMPLES.length)];
  return s;
}

const tokenizers: Array<[string, Tokenizer]> = [
  ['sentencepiece (byte fallback)', syntheticSpm()],
  ['byte-level BPE', HuggingFaceTokenizer.fromJSON(syntheticByteLevelTokenizer('llama3').json, syntheticByteLevelTokenizer('llama3').config)],
];

describe.each(tokenizers)('stream decoder: %s', (_name, t) => {
  it('valid text split across tokens: never a U+FFFD, concatenation equals decode() and the text', () => {
    const rand = rng(7);
    let splitChars = 0;
    for (let trial = 0; trial < 300; trial++) {
      const text = randomText(rand);
      const ids = t.encode(text);
      const chunks = streamChunks(t.createStreamDecoder(), ids);
      for (const c of chunks) expect(c).not.toContain('\uFFFD');
      const joined = chunks.join('');
      expect(joined).toBe(t.decode(ids));
      expect(joined).toBe(text);
      if (chunks.some((c) => c === '')) splitChars++;
    }
    expect(splitChars).toBeGreaterThan(50); // the property was really exercised
  });

  it('random id sequences (broken UTF-8 included): streamed text equals decode()', () => {
    const rand = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const ids = Array.from({ length: Math.floor(rand() * 20) }, () => Math.floor(rand() * t.vocabSize));
      for (const keepSpecial of [false, true]) {
        expect(streamChunks(t.createStreamDecoder({ keepSpecial }), ids).join('')).toBe(t.decode(ids, { keepSpecial }));
      }
    }
  });

  it('an unfinished sequence is held, then flushed as U+FFFD', () => {
    // a token holding only the first byte(s) of the emoji decodes, alone, to U+FFFD
    const partial = t.encode('😀', { addBos: false }).find((id) => t.decode([id]) === '\uFFFD');
    expect(partial).toBeDefined();
    const d = t.createStreamDecoder();
    expect(d.push(partial!)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
  });
});
