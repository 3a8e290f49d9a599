import { ModelFormatError } from '@bitexit/format';
import type { GgufFile } from '@bitexit/format';
import type { Tokenizer } from './tokenizer.js';
import { ggufNumberArray, ggufTokenId, SentencePieceTokenizer, TokenType } from './spm.js';
import { HuggingFaceTokenizer } from './hf.js';

/** Pre-tokenizer regex of Llama 3 (tokenizer.ggml.pre 'llama-bpe'). */
export const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** Pre-tokenizer regex of Qwen2 (tokenizer.ggml.pre 'qwen2'): single digits. */
export const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** GPT-2's pre-tokenizer regex (the default). */
export const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const LLAMA3_PRE = new Set(['llama-bpe', 'llama3', 'llama-v3', 'smaug-bpe', 'dbrx']);
const QWEN2_PRE = new Set(['qwen2', 'deepseek-r1-qwen', 'megrez']);

/** Regex used for a `tokenizer.ggml.pre` value ('llama-bpe', 'qwen2'; anything else: GPT-2). */
export function preTokenizerRegex(pre: string | undefined): string {
  if (pre && LLAMA3_PRE.has(pre)) return LLAMA3_REGEX;
  if (pre && QWEN2_PRE.has(pre)) return QWEN2_REGEX;
  return GPT2_REGEX;
}


/**
 * Builds an in-memory tokenizer.json equivalent to a GGUF 'gpt2' (byte-level
 * BPE) vocabulary: BPE model with tokens and merges, ByteLevel pre-tokenizer
 * behind a Split on the regex named by tokenizer.ggml.pre, ByteLevel decoder,
 * control tokens as special added tokens and user-defined ones as plain added tokens.
 */
export function gpt2GgufToTokenizerJson(gguf: GgufFile): Record<string, unknown> {
  const file = gguf.file;
  const tokens = gguf.getStringArray('tokenizer.ggml.tokens');
  if (!tokens || tokens.length === 0) throw new ModelFormatError(file, 'tokenizer.ggml.tokens is missing or empty');
  const merges = gguf.getStringArray('tokenizer.ggml.merges');
  if (!merges) throw new ModelFormatError(file, "tokenizer.ggml.merges is missing (needed by a 'gpt2' vocabulary)");
  const types = ggufNumberArray(gguf, 'tokenizer.ggml.token_type', 'int32');
  if (types && types.length !== tokens.length) throw new ModelFormatError(file, `${types.length} token types for ${tokens.length} tokens`);
  const pre = gguf.getString('tokenizer.ggml.pre');
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => (vocab[t] = i));
  const added: Array<Record<string, unknown>> = [];
  if (types) {
    types.forEach((t, i) => {
      if (t === TokenType.CONTROL || t === TokenType.USER_DEFINED) {
        added.push({ id: i, content: tokens[i], single_word: false, lstrip: false, rstrip: false, normalized: false, special: t === TokenType.CONTROL });
      }
    });
  }
  const pairs: Array<[string, string]> = merges.map((m, i) => {
    // llama.cpp splits at the first space after position 0.
    const at = m.indexOf(' ', 1);
    if (at < 0) throw new ModelFormatError(file, `tokenizer.ggml.merges[${i}] '${m}' is not two tokens separated by a space`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: preTokenizerRegex(pre) }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      // llama.cpp sets ignore_merges for the Llama 3 pre-tokenizer.
      ignore_merges: pre !== undefined && LLAMA3_PRE.has(pre),
      vocab,
      merges: pairs,
    },
  };
}

/**
 * The tokenizer a GGUF file carries: an embedded `tokenizer.huggingface.json`
 * when present, else by `tokenizer.ggml.model`: 'llama' (SentencePiece BPE) or
 * 'gpt2' (byte-level BPE, Llama 3 / Qwen2). Other models: ModelFormatError.
 */
export function tokenizerFromGguf(gguf: GgufFile): Tokenizer {
  const file = gguf.file;
  const chatTemplate = gguf.getString('tokenizer.chat_template') ?? null;
  const embedded = gguf.getString('tokenizer.huggingface.json');
  const tokens = gguf.getStringArray('tokenizer.ggml.tokens');
  const n = tokens?.length ?? Number.MAX_SAFE_INTEGER;
  // Ids are checked here against tokenizer.ggml.tokens (when present) and by HuggingFaceTokenizer against the
  // vocabulary it actually uses (an embedded tokenizer.huggingface.json may differ), naming these keys.
  const extraStopIds: number[] = [];
  const extraStopKeys: string[] = [];
  for (const key of ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) {
    const id = ggufTokenId(gguf, key, n);
    if (typeof id === 'number') {
      extraStopIds.push(id);
      extraStopKeys.push(key);
    }
  }
  const idFields = { bosId: 'tokenizer.ggml.bos_token_id', eosId: 'tokenizer.ggml.eos_token_id', extraStopIds: extraStopKeys };
  const ggmlOpts = () => {
    const o: { bosId?: number | null; eosId?: number | null; addBos?: boolean; addEos?: boolean } = {};
    const bos = ggufTokenId(gguf, 'tokenizer.ggml.bos_token_id', n);
    const eos = ggufTokenId(gguf, 'tokenizer.ggml.eos_token_id', n);
    if (bos !== undefined) o.bosId = bos;
    if (eos !== undefined) o.eosId = eos;
    const addBos = gguf.getBool('tokenizer.ggml.add_bos_token');
    const addEos = gguf.getBool('tokenizer.ggml.add_eos_token');
    if (addBos !== undefined) o.addBos = addBos;
    if (addEos !== undefined) o.addEos = addEos;
    return o;
  };
  if (embedded !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(embedded);
    } catch (e) {
      throw new ModelFormatError(file, `tokenizer.huggingface.json is not valid JSON: ${(e as Error).message}`);
    }
    return HuggingFaceTokenizer.fromJSON(json, {}, { source: file, chatTemplate, extraStopIds, idFields, ...ggmlOpts() });
  }
  const model = gguf.getString('tokenizer.ggml.model');
  if (model === undefined) throw new ModelFormatError(file, 'the file carries no tokenizer (tokenizer.ggml.model is missing)');
  if (model === 'llama') return SentencePieceTokenizer.fromGguf(gguf);
  if (model === 'gpt2') {
    const json = gpt2GgufToTokenizerJson(gguf);
    const pre = gguf.getString('tokenizer.ggml.pre');
    const opts = ggmlOpts();
    // llama.cpp's defaults for BPE vocabularies: BOS only for the Llama 3 pre-tokenizer unless the file says otherwise.
    if (opts.addBos === undefined) opts.addBos = pre !== undefined && LLAMA3_PRE.has(pre);
    if (opts.addEos === undefined) opts.addEos = false;
    if (opts.bosId === undefined) opts.bosId = null;
    if (opts.eosId === undefined) opts.eosId = null;
    return HuggingFaceTokenizer.fromJSON(json, {}, { source: file, chatTemplate, extraStopIds, idFields, ...opts });
  }
  throw new ModelFormatError(file, `unsupported tokenizer model '${model}' (supported: llama, gpt2)`);
}
