/**
 * Small synthetic byte-level BPE tokenizer.json files in the style of Llama 3
 * and Qwen2 (ByteLevel pre-tokenizer/decoder, regex split, a few merges,
 * added special tokens). Reference ids for them were produced with the Rust
 * `tokenizers` crate (see byte-level.test.ts).
 */
import { LLAMA3_REGEX, QWEN2_REGEX, GPT2_REGEX } from '../gguf.js';

/** GPT-2 byte-level alphabet, byte -> char (as the Rust crate's bytes_char()). */
export function byteLevelAlphabet(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i])));
  return out;
}

/** Merges, in rank order, written with byte-level chars (Ġ = space, Ċ = newline). */
export const SYNTHETIC_MERGES: Array<[string, string]> = [
  ['Ġ', 't'],
  ['h', 'e'],
  ['Ġt', 'he'],
  ['i', 'n'],
  ['a', 'n'],
  ['Ġ', 'a'],
  ['e', 'r'],
  ['o', 'n'],
  ['Ġ', 's'],
  ['Ġ', 'w'],
  ['n', 'd'],
  ['Ġa', 'nd'],
  ['Ġ', 'b'],
  ['in', 'g'],
  ['O', 'n'],
  ['On', 'c'],
  ['Onc', 'e'],
  ['Ġ', 'u'],
  ['Ġu', 'p'],
  ['Ġup', 'on'],
  ['Ġt', 'i'],
  ['Ġti', 'm'],
  ['Ġtim', 'e'],
  ['Ċ', 'Ċ'],
  ['Ġ', 'Ġ'],
  ['Ã', '©'], // é
  ['c', 'a'],
  ['ca', 'f'],
  ['caf', 'Ã©'],
  ['ð', 'Ł'], // first two bytes of many emoji (F0 9F)
  ['ðŁ', 'ĺ'], // F0 9F 98: three bytes of 😀..😿, a character split across tokens
  ['1', '2'],
  ['12', '3'],
  ["'", 's'],
  ['Ġ', 'L'],
  ['ĠL', 'i'],
  ['ĠLi', 'l'],
  ['ĠLil', 'y'],
  ['e', 'd'],
  ['Ġw', 'an'],
  ['Ġwan', 't'],
  ['Ġwant', 'ed'],
  ['Ġt', 'o'],
];

export const SYNTHETIC_SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
/** A non-special added token: always matched, kept by decode. */
export const SYNTHETIC_PLAIN_ADDED = '<tool>';

export type SyntheticFlavour = 'llama3' | 'qwen2' | 'gpt2';

export function syntheticByteLevelTokenizer(flavour: SyntheticFlavour): { json: Record<string, unknown>; config: Record<string, unknown> } {
  const alphabet = byteLevelAlphabet();
  const vocab: Record<string, number> = {};
  let next = 0;
  for (let b = 0; b < 256; b++) vocab[alphabet[b]] = next++;
  for (const [a, b] of SYNTHETIC_MERGES) {
    if (vocab[a] === undefined || vocab[b] === undefined) throw new Error(`bad synthetic merge ${a} ${b}`);
    if (vocab[a + b] === undefined) vocab[a + b] = next++;
  }
  const added_tokens = [
    ...SYNTHETIC_SPECIALS.map((content) => ({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    { id: next++, content: SYNTHETIC_PLAIN_ADDED, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false },
  ];
  const regex = flavour === 'llama3' ? LLAMA3_REGEX : flavour === 'qwen2' ? QWEN2_REGEX : GPT2_REGEX;
  const pre_tokenizer =
    flavour === 'gpt2'
      ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
      : {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        };
  const post_processor =
    flavour === 'llama3'
      ? {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
            {
              type: 'TemplateProcessing',
              single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
              pair: [
                { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
                { Sequence: { id: 'A', type_id: 0 } },
                { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } },
                { Sequence: { id: 'B', type_id: 1 } },
              ],
              special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [vocab['<|begin_of_text|>'] ?? added_tokens[0].id], tokens: ['<|begin_of_text|>'] } },
            },
          ],
        }
      : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens,
    normalizer: null,
    pre_tokenizer,
    post_processor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: flavour === 'llama3',
      vocab,
      merges: SYNTHETIC_MERGES.map(([a, b]) => [a, b]),
    },
  };
  const config =
    flavour === 'llama3'
      ? { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', chat_template: [{ name: 'default', template: '{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}' }] }
      : { bos_token: null, eos_token: '<|end_of_text|>', add_bos_token: false };
  return { json, config };
}

/** Strings whose Rust ids are stored in the tests. */
export const SYNTHETIC_CASES: string[] = [
  'Once upon a time',
  'Lily wanted to play with the ball.',
  "It's Lily's café 😀 and 😃!",
  '  two  spaces\n\nnew paragraph\r\nwindows',
  'numbers 12345 and 1234567',
  "I'LL SEE 'Ve 'RE caps",
  '<|begin_of_text|>Hello<|eot_id|>',
  'use <tool> here',
  'tabs\tand\u00a0nbsp 日本語 Ünïcödé',
  '',
];
