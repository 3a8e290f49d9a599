import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ModelFormatError } from '@bitexit/format';
import type { StreamDecoder, StreamDecoderOptions, Tokenizer } from './tokenizer.js';
import { ByteBuffer, Utf8Stream } from './bytes.js';
import { stopIdsFromPieces } from './special.js';
import { createDecoderChain, type DecoderChain } from './hf-decoder.js';
import { BpeModel } from './hf-bpe.js';
import { LIMITS, validateTokenizerConfig, validateTokenizerJson } from './hf-schema.js';
import { checkId, checkIds, checkText } from './args.js';
import { PatternSet } from './patterns.js';

type Json = Record<string, unknown>;

/** Largest vocabulary accepted (ids must stay below 2^21, as BpeModel packs pairs of ids). */
const MAX_VOCAB = LIMITS.maxVocab;

interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** Minimal views of the library's pipeline objects (they are callables). */
type NormalizerFn = (text: string) => string;
type PreTokenizerFn = (text: string, options?: { section_index?: number }) => string[];
type ModelFn = ((tokens: string[]) => string[]) & {
  tokens_to_ids: Map<string, number>;
  unk_token_id?: number | null;
  vocab: string[];
  fuse_unk: boolean;
  encode(tokens: string[]): string[];
};

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `bos_token` etc. in tokenizer_config.json: a string or an AddedToken object `{ content }`. */
function tokenString(x: unknown): string | null {
  if (typeof x === 'string') return x;
  if (isObject(x) && typeof x.content === 'string') return x.content;
  return null;
}

/** chat_template: a string, or a list of `{ name, template }` (the 'default' one is used). */
export function pickChatTemplate(x: unknown): string | null {
  if (typeof x === 'string') return x;
  if (Array.isArray(x)) {
    const named = x.filter((t): t is Json => isObject(t) && typeof t.template === 'string');
    const def = named.find((t) => t.name === 'default') ?? named[0];
    return def ? (def.template as string) : null;
  }
  return null;
}

/**
 * Leftmost-longest matching of added tokens, as Rust's AddedVocabulary (Aho-Corasick, MatchKind::LeftmostLongest),
 * in time linear in the text (see PatternSet). Starts are code-point boundaries.
 */
class TokenTrie {
  readonly empty: boolean;
  private readonly patterns: PatternSet;
  private readonly tokens: AddedTokenInfo[] = [];

  constructor(tokens: Array<{ text: string; token: AddedTokenInfo }>) {
    const texts: string[] = [];
    for (const { text, token } of tokens) {
      if (text.length === 0) continue;
      texts.push(text);
      this.tokens.push(token);
    }
    this.patterns = new PatternSet(texts);
    this.empty = texts.length === 0;
  }

  /** Splits text into plain strings and matched tokens. */
  split(text: string): Array<string | AddedTokenInfo> {
    if (this.empty) return [text];
    const n = text.length;
    const longest = this.patterns.longestStartingAt(text);
    const out: Array<string | AddedTokenInfo> = [];
    let start = 0;
    let i = 0;
    while (i < n) {
      const m = longest[i]!;
      if (m >= 0) {
        if (i > start) out.push(text.slice(start, i));
        out.push(this.tokens[m]!);
        i += this.patterns.length(m);
        start = i;
      } else {
        i += (text.codePointAt(i) as number) > 0xffff ? 2 : 1;
      }
    }
    if (start < n) out.push(text.slice(start));
    return out;
  }
}

/** Applies lstrip/rstrip of matched added tokens to the neighbouring text. */
function applyStrips(parts: Array<string | AddedTokenInfo>): void {
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (typeof p === 'string') continue;
    if (p.lstrip && i > 0 && typeof parts[i - 1] === 'string') parts[i - 1] = (parts[i - 1] as string).trimEnd();
    if (p.rstrip && i + 1 < parts.length && typeof parts[i + 1] === 'string') parts[i + 1] = (parts[i + 1] as string).trimStart();
  }
}

export interface HuggingFaceTokenizerOptions {
  /** Name used in error messages. */
  source?: string;
  /** Overrides the chat template of tokenizer_config.json (e.g. GGUF tokenizer.chat_template). */
  chatTemplate?: string | null;
  /** Overrides BOS/EOS/add-BOS decisions (used for GGUF vocabularies). */
  bosId?: number | null;
  eosId?: number | null;
  addBos?: boolean;
  addEos?: boolean;
  extraStopIds?: readonly number[];
  /** Names of the fields bosId/eosId/extraStopIds came from, for error messages (e.g. GGUF keys). */
  idFields?: { bosId?: string; eosId?: string; extraStopIds?: readonly string[] };
}

/**
 * A Hugging Face `tokenizer.json` tokenizer. Normalizers, pre-tokenizers
 * (including the Oniguruma-to-JS regex translation) and the BPE model come from
 * @huggingface/tokenizers; added-token splitting (so `parseSpecial` can be
 * honoured), BOS/EOS handling and the whole decoding side (byte-exact,
 * streaming-safe) are implemented here.
 */
export class HuggingFaceTokenizer implements Tokenizer {
  readonly kind = 'huggingface' as const;
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly unkId: number | null;
  readonly stopIds: readonly number[];
  readonly chatTemplate: string | null;
  readonly specialTokens: Readonly<Record<string, string>>;
  readonly addBos: boolean;
  readonly addEos: boolean;

  private readonly source: string;
  private readonly lib: HfTokenizer;
  private readonly normalizer: NormalizerFn | null;
  private readonly preTokenizer: PreTokenizerFn | null;
  private readonly model: ModelFn;
  /** Our BPE implementation when the model is BPE (else the library's model is used). */
  private readonly bpe: BpeModel | null;
  private readonly addedById = new Map<number, AddedTokenInfo>();
  private readonly triesAll: { raw: TokenTrie; norm: TokenTrie };
  private readonly triesNonSpecial: { raw: TokenTrie; norm: TokenTrie };
  private readonly metaspaceSplit: string | null;
  private readonly chain: DecoderChain;
  private readonly idToPieceCache: string[];

  private constructor(json: Json, config: Json, opts: HuggingFaceTokenizerOptions) {
    const source = opts.source ?? 'tokenizer.json';
    this.source = source;
    const prepared = prepareJson(json);
    const modelCfg = prepared.model as Json;
    const isBpe = modelCfg.type === 'BPE';
    if (modelCfg.type === 'Unigram' && typeof modelCfg.unk_id === 'number' && modelCfg.unk_id >= (modelCfg.vocab as unknown[]).length) {
      throw new ModelFormatError(source, `tokenizer.json: model.unk_id ${modelCfg.unk_id} is outside the vocabulary of ${(modelCfg.vocab as unknown[]).length}`);
    }
    // Our BpeModel does the merging; the library only needs the vocabulary (skips building its merge ranks).
    const libJson = isBpe ? { ...prepared, model: { ...modelCfg, merges: [] } } : prepared;
    // The library reads only eos_token of the config that matters here; nothing else of a hostile config reaches it.
    const libConfig = typeof config.eos_token === 'string' ? { eos_token: config.eos_token } : {};
    try {
      this.lib = new HfTokenizer(libJson, libConfig);
    } catch (e) {
      throw new ModelFormatError(source, `cannot load tokenizer: ${(e as Error).message}`, { cause: e });
    }
    const lib = this.lib as unknown as { normalizer: NormalizerFn | null; pre_tokenizer: PreTokenizerFn | null; model: ModelFn | null };
    if (!lib.model) throw new ModelFormatError(source, 'tokenizer.json has no model');
    this.normalizer = lib.normalizer;
    this.preTokenizer = lib.pre_tokenizer;
    this.model = lib.model;
    this.bpe = isBpe ? new BpeModel(modelCfg, source) : null;
    this.metaspaceSplit = metaspaceSplitReplacement(prepared.pre_tokenizer);

    // Added tokens.
    const added: AddedTokenInfo[] = [];
    for (const t of prepared.added_tokens as Json[]) {
      if (!isObject(t) || typeof t.content !== 'string' || !Number.isInteger(t.id) || (t.id as number) < 0) {
        throw new ModelFormatError(source, 'added_tokens holds an entry without integer id and string content');
      }
      const special = t.special === true;
      const info: AddedTokenInfo = {
        id: t.id as number,
        content: t.content,
        special,
        normalized: typeof t.normalized === 'boolean' ? t.normalized : !special,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
      };
      added.push(info);
      this.addedById.set(info.id, info);
    }
    const makeTries = (tokens: AddedTokenInfo[]) => {
      const raw: Array<{ text: string; token: AddedTokenInfo }> = [];
      const norm: Array<{ text: string; token: AddedTokenInfo }> = [];
      for (const t of tokens) {
        if (t.normalized && this.normalizer) norm.push({ text: this.normalizer(t.content), token: t });
        else raw.push({ text: t.content, token: t });
      }
      return { raw: new TokenTrie(raw), norm: new TokenTrie(norm) };
    };
    this.triesAll = makeTries(added);
    this.triesNonSpecial = makeTries(added.filter((t) => !t.special));

    // Vocabulary size: model vocab plus added tokens.
    let maxId = -1;
    for (const id of this.model.tokens_to_ids.values()) if (id > maxId) maxId = id;
    // The library's map loses a model id when an added token has the same content and another id; our BPE model
    // keeps it (and may emit it, e.g. as UNK), so its ids count too.
    if (this.bpe) for (const id of this.bpe.vocab.values()) if (id > maxId) maxId = id;
    for (const t of added) if (t.id > maxId) maxId = t.id;
    if (maxId >= MAX_VOCAB) throw new ModelFormatError(source, `token id ${maxId} is too large (at most ${MAX_VOCAB - 1})`);
    this.vocabSize = maxId + 1;
    this.idToPieceCache = new Array<string>(this.vocabSize).fill('');
    if (this.bpe) for (const [tok, id] of this.bpe.vocab) this.idToPieceCache[id] = tok;
    for (const [tok, id] of this.model.tokens_to_ids) if (id >= 0 && id < this.vocabSize) this.idToPieceCache[id] = tok;
    for (const t of added) this.idToPieceCache[t.id] = t.content;

    const idOf = (s: string | null): number | null => {
      if (s === null) return null;
      const id = this.tokenToId(s);
      return id === undefined ? null : id;
    };
    const template = templateSpecialTokens(prepared.post_processor);
    const bosStr = tokenString(config.bos_token) ?? template.bos;
    const eosStr = tokenString(config.eos_token) ?? template.eos;
    const unkStr = tokenString(config.unk_token) ?? (isObject(prepared.model) ? tokenString(prepared.model.unk_token) : null);
    const padStr = tokenString(config.pad_token);
    const fields = opts.idFields ?? {};
    const inVocab = (id: number | null | undefined, field: string): number | null | undefined => {
      if (id === null || id === undefined) return id;
      if (!Number.isSafeInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new ModelFormatError(source, `${field} ${id} is outside the vocabulary of ${this.vocabSize} tokens`);
      }
      return id;
    };
    this.bosId = opts.bosId !== undefined ? (inVocab(opts.bosId, fields.bosId ?? 'bosId') as number | null) : idOf(bosStr);
    this.eosId = opts.eosId !== undefined ? (inVocab(opts.eosId, fields.eosId ?? 'eosId') as number | null) : idOf(eosStr);
    this.unkId = idOf(unkStr);
    const addBosCfg = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : template.bos !== null;
    const addEosCfg = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : template.eos !== null;
    this.addBos = (opts.addBos ?? addBosCfg) && this.bosId !== null;
    this.addEos = (opts.addEos ?? addEosCfg) && this.eosId !== null;

    const special: Record<string, string> = {};
    const name = (id: number | null) => (id === null ? null : this.idToPieceCache[id]);
    const bosName = name(this.bosId) ?? bosStr;
    const eosName = name(this.eosId) ?? eosStr;
    if (bosName) special.bos_token = bosName;
    if (eosName) special.eos_token = eosName;
    if (unkStr) special.unk_token = unkStr;
    if (padStr) special.pad_token = padStr;
    this.specialTokens = special;

    const stops = new Set<number>();
    if (this.eosId !== null) stops.add(this.eosId);
    (opts.extraStopIds ?? []).forEach((id, i) => stops.add(inVocab(id, fields.extraStopIds?.[i] ?? `extraStopIds[${i}]`) as number));
    const addedByContent = new Map(added.map((t) => [t.content, t.id]));
    for (const id of stopIdsFromPieces((p) => addedByContent.get(p))) stops.add(id);
    this.stopIds = [...stops];

    this.chatTemplate = opts.chatTemplate !== undefined && opts.chatTemplate !== null ? opts.chatTemplate : pickChatTemplate(config.chat_template);
    this.chain = createDecoderChain(prepared.decoder, source);
  }

  /**
   * Builds a tokenizer from parsed `tokenizer.json` (and optionally
   * `tokenizer_config.json`, for bos_token, eos_token, add_bos_token,
   * add_eos_token, chat_template).
   */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig?: unknown, options: HuggingFaceTokenizerOptions = {}): HuggingFaceTokenizer {
    const source = options.source ?? 'tokenizer.json';
    if (!isObject(tokenizerJson)) throw new ModelFormatError(source, 'tokenizer.json is not a JSON object');
    if (tokenizerConfig !== undefined && tokenizerConfig !== null && !isObject(tokenizerConfig)) {
      throw new ModelFormatError(source, 'tokenizer_config.json is not a JSON object');
    }
    const json = validateTokenizerJson(tokenizerJson, source) as Json;
    const config = tokenizerConfig ? (validateTokenizerConfig(tokenizerConfig as Json, source) as Json) : {};
    return new HuggingFaceTokenizer(json, config, options);
  }

  /** Id of a token string (model vocabulary or added token). */
  tokenToId(token: string): number | undefined {
    return this.model.tokens_to_ids.get(token);
  }

  idToPiece(id: number): string {
    checkId(id, 'idToPiece');
    return id >= 0 && id < this.vocabSize ? this.idToPieceCache[id] : '';
  }

  /** True for added tokens marked special (dropped by decode unless keepSpecial). */
  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special === true;
  }

  encode(text: string, options: { addBos?: boolean; addEos?: boolean; parseSpecial?: boolean } = {}): number[] {
    checkText(text, 'encode');
    const addBos = (options.addBos ?? this.addBos) && this.bosId !== null;
    const addEos = (options.addEos ?? this.addEos) && this.eosId !== null;
    const tries = options.parseSpecial ? this.triesAll : this.triesNonSpecial;
    const out: number[] = [];
    if (addBos) out.push(this.bosId as number);
    const sections = tries.raw.split(text);
    applyStrips(sections);
    let offset = 0;
    for (const section of sections) {
      if (typeof section !== 'string') {
        out.push(section.id);
        offset += section.content.length;
        continue;
      }
      const atStart = offset === 0;
      offset += section.length;
      if (section.length === 0) continue;
      const normalized = this.normalizer ? this.normalizer(section) : section;
      if (normalized.length === 0) continue;
      const subs = tries.norm.split(normalized);
      applyStrips(subs);
      for (let k = 0; k < subs.length; k++) {
        const sub = subs[k];
        if (typeof sub !== 'string') {
          out.push(sub.id);
          continue;
        }
        if (sub.length === 0) continue;
        // Metaspace prepend_scheme 'first' applies only to text at offset 0 of the input (Rust semantics).
        let words = this.preTokenizer ? this.preTokenizer(sub, { section_index: atStart && k === 0 ? 0 : 1 }) : [sub];
        if (this.metaspaceSplit !== null) words = splitMergedWithNext(words, this.metaspaceSplit);
        if (this.bpe) {
          for (const w of words) this.bpe.tokenize(w, out);
          continue;
        }
        // The model's encode without the library's fuse_unk, which concatenates the unknown pieces into
        // one string and looks it up after each append (quadratic: 16,000 unknown chars took 1.4 s).
        // Consecutive unknown pieces become one UNK here, as in Rust.
        const pieces = this.model.encode(words);
        const vocab = this.model.tokens_to_ids;
        const unk = this.model.unk_token_id;
        let previousUnk = false;
        for (const p of pieces) {
          const id = vocab.get(p) ?? unk;
          // Unigram with `unk_id: null` leaves unk_token_id null: as Rust, an unknown piece is then an error.
          if (typeof id !== 'number') {
            throw new ModelFormatError(this.source, `cannot encode '${p.slice(0, 40)}': not in the vocabulary and the model has no unknown token`);
          }
          const isUnk = id === unk;
          if (!(isUnk && previousUnk && this.model.fuse_unk)) out.push(id);
          previousUnk = isUnk;
        }
      }
    }
    if (addEos) out.push(this.eosId as number);
    return out;
  }

  decode(ids: readonly number[], options: { keepSpecial?: boolean } = {}): string {
    checkIds(ids, 'decode');
    const state = this.chain.start(0);
    const keep = options.keepSpecial ?? false;
    const buf = new ByteBuffer();
    for (const id of ids) {
      const piece = this.pieceFor(id, keep);
      if (piece === null) continue;
      buf.pushBytes(state.token(piece));
    }
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf.take());
    return state.text(text) + state.end();
  }

  createStreamDecoder(options: StreamDecoderOptions = {}): StreamDecoder {
    const keep = options.keepSpecial ?? false;
    const prefix = checkIds(options.prefix ?? [], 'createStreamDecoder prefix');
    let decodedBefore = 0;
    let emittedBefore = false;
    for (const id of prefix) {
      const p = this.pieceFor(id, keep);
      if (p === null) continue;
      decodedBefore++;
      if (p.length > 0) emittedBefore = true;
    }
    const state = this.chain.start(decodedBefore, emittedBefore);
    const utf8 = new Utf8Stream();
    return {
      push: (id: number) => {
        const piece = this.pieceFor(checkId(id, 'push'), keep);
        if (piece === null) return '';
        return state.text(utf8.push(state.token(piece)));
      },
      flush: () => state.text(utf8.flush()) + state.end(),
    };
  }

  /** Token string to feed the decoder, or null when skipped. */
  private pieceFor(id: number, keepSpecial: boolean): string | null {
    if (!(id >= 0 && id < this.vocabSize)) return null;
    const a = this.addedById.get(id);
    if (a && a.special && !keepSpecial) return null;
    return this.idToPieceCache[id];
  }
}

/** Fills the keys the library requires and normalises legacy Metaspace options (of a validated tokenizer.json). */
function prepareJson(json: Json): Json & { added_tokens: unknown[] } {
  const out: Json = { ...json };
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) if (out[k] === undefined) out[k] = null;
  if (out.added_tokens === undefined || out.added_tokens === null) out.added_tokens = [];
  out.pre_tokenizer = fixMetaspace(out.pre_tokenizer);
  out.decoder = fixMetaspace(out.decoder);
  return out as Json & { added_tokens: unknown[] };
}

/**
 * Rust reads the legacy `add_prefix_space` of Metaspace as prepend_scheme 'always' / 'never'; the JS port defaults to 'always'.
 * Recursion depth is bounded: validation refused documents nested more than LIMITS.maxDepth levels.
 */
function fixMetaspace(cfg: unknown): unknown {
  if (!isObject(cfg)) return cfg;
  if (cfg.type === 'Metaspace' && cfg.prepend_scheme === undefined && cfg.add_prefix_space === false) {
    return { ...cfg, prepend_scheme: 'never' };
  }
  for (const key of ['pretokenizers', 'decoders']) {
    if (Array.isArray(cfg[key])) return { ...cfg, [key]: (cfg[key] as unknown[]).map(fixMetaspace) };
  }
  return cfg;
}

/**
 * Rust's Metaspace pre-tokenizer with `split: true` (its default) also splits
 * at each replacement char (MergedWithNext); the JS port does not split. Returns
 * the replacement when that split must be added (Metaspace alone or last in a Sequence).
 */
function metaspaceSplitReplacement(cfg: unknown): string | null {
  if (!isObject(cfg)) return null;
  let m: Json | undefined = cfg;
  if (cfg.type === 'Sequence' && Array.isArray(cfg.pretokenizers)) {
    const list = cfg.pretokenizers as unknown[];
    m = isObject(list[list.length - 1]) ? (list[list.length - 1] as Json) : undefined;
  }
  if (!m || m.type !== 'Metaspace' || m.split === false) return null;
  return typeof m.replacement === 'string' ? m.replacement : '\u2581';
}

function splitMergedWithNext(words: string[], delim: string): string[] {
  if (delim.length === 0) return words; // validation requires one char; an empty one would never advance
  const out: string[] = [];
  for (const w of words) {
    let start = 0;
    let i = w.indexOf(delim, 1);
    while (i >= 0) {
      out.push(w.slice(start, i));
      start = i;
      i = w.indexOf(delim, i + delim.length);
    }
    if (start < w.length) out.push(w.slice(start));
  }
  return out.filter((x) => x.length > 0);
}

/** BOS/EOS that a TemplateProcessing post-processor puts around a single sequence. */
function templateSpecialTokens(pp: unknown): { bos: string | null; eos: string | null } {
  const none = { bos: null, eos: null };
  if (!isObject(pp)) return none;
  if (pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    for (const p of pp.processors) {
      const r = templateSpecialTokens(p);
      if (r.bos !== null || r.eos !== null) return r;
    }
    return none;
  }
  if (pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return none;
  const single = pp.single as unknown[];
  const idOf = (x: unknown): string | null => {
    if (isObject(x) && isObject(x.SpecialToken) && typeof x.SpecialToken.id === 'string') return x.SpecialToken.id;
    return null;
  };
  const seqIndex = single.findIndex((x) => isObject(x) && isObject(x.Sequence));
  const bos = seqIndex > 0 ? idOf(single[0]) : null;
  const eos = seqIndex >= 0 && seqIndex < single.length - 1 ? idOf(single[single.length - 1]) : null;
  return { bos, eos };
}
