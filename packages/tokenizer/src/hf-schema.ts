import * as z from 'zod';
import { ModelFormatError } from '@bitexit/format';

/**
 * Validation of Hugging Face `tokenizer.json` / `tokenizer_config.json` before
 * anything (ours or @huggingface/tokenizers) reads them. Every field either
 * code reads gets a type; sizes are bounded by limits real tokenizers never
 * reach (see LIMITS), and the normalizer/pre-tokenizer chain may not grow the
 * text by more than a fixed factor, so each `encode` does work bounded by the
 * size of its input. Unknown fields are allowed (real files carry many) but
 * never read.
 */
export const LIMITS = {
  /** JSON nesting of the whole document (real tokenizer.json files: 6; nested Sequences add 2 per level). */
  maxDepth: 32,
  /** Vocabulary entries and ids (Llama 3: 128,256; ids must stay below 2^21 because BpeModel packs id pairs). */
  maxVocab: 1 << 21,
  /** BPE merges (Llama 3: 280,147). */
  maxMerges: 4_000_000,
  /** One token or merge side, in UTF-16 units (real: under 300). */
  maxTokenChars: 16_384,
  /** Strings of the pipeline config: patterns, Replace content, Prepend... (Llama 3's regex: 160 chars). */
  maxConfigChars: 4096,
  /** precompiled_charsmap of a Precompiled normalizer (T5's: 240 KB of base64). */
  maxCharsmapChars: 4 << 20,
  /** Items of a Sequence of normalizers, pre-tokenizers, decoders or post-processors (real: at most 5). */
  maxChain: 32,
  /** How many times the normalizer + pre-tokenizer chain (and, per token, the decoder) may multiply the length of the text (real: at most 4). */
  maxGrowth: 256,
  /** WordPiece max_input_chars_per_word (real: 100 or 200; its matching is cubic in this). */
  maxWordPieceChars: 1024,
  /** chat_template source (real: under 20 KB). */
  maxTemplateChars: 1 << 20,
} as const;

const configString = z.string().max(LIMITS.maxConfigChars);
const tokenString = z.string().max(LIMITS.maxTokenChars);
const flag = z.boolean().nullish();
const id = z.number().int().min(0).max(LIMITS.maxVocab - 1);
/** A single character (one code point), as Rust's `char` fields. */
const oneChar = z.string().refine((s) => s.length > 0 && [...s].length === 1, 'must be exactly one character');

const pattern = z.union([z.looseObject({ String: configString }), z.looseObject({ Regex: configString })]);

type Component = { type: string } & Record<string, unknown>;

function chain<K extends string>(key: K, item: () => z.ZodType<Component>) {
  return z.looseObject({ type: z.literal('Sequence'), [key]: z.lazy(() => z.array(item()).max(LIMITS.maxChain)) } as Record<string, z.ZodType>);
}

export const normalizerSchema: z.ZodType<Component> = z.lazy(() =>
  z.discriminatedUnion('type', [
    chain('normalizers', () => normalizerSchema),
    z.looseObject({ type: z.literal('BertNormalizer'), clean_text: flag, handle_chinese_chars: flag, strip_accents: flag, lowercase: flag }),
    z.looseObject({ type: z.literal('Precompiled'), precompiled_charsmap: z.string().max(LIMITS.maxCharsmapChars).nullish() }),
    z.looseObject({ type: z.literal('Replace'), pattern, content: configString }),
    z.looseObject({ type: z.enum(['NFC', 'NFD', 'NFKC', 'NFKD', 'StripAccents', 'Lowercase']) }),
    z.looseObject({ type: z.literal('Strip'), strip_left: flag, strip_right: flag }),
    z.looseObject({ type: z.literal('Prepend'), prepend: configString }),
  ]) as z.ZodType<Component>,
);

export const preTokenizerSchema: z.ZodType<Component> = z.lazy(() =>
  z.discriminatedUnion('type', [
    chain('pretokenizers', () => preTokenizerSchema),
    z.looseObject({ type: z.enum(['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit']) }),
    z.looseObject({
      type: z.literal('Metaspace'),
      replacement: oneChar.optional(),
      str_rep: oneChar.optional(),
      prepend_scheme: z.enum(['always', 'first', 'never']).optional(),
      add_prefix_space: flag,
      split: flag,
    }),
    z.looseObject({ type: z.literal('ByteLevel'), add_prefix_space: flag, trim_offsets: flag, use_regex: flag }),
    z.looseObject({
      type: z.literal('Split'),
      pattern,
      behavior: z.enum(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']),
      invert: flag,
    }),
    z.looseObject({ type: z.literal('Punctuation'), behavior: z.enum(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']).optional() }),
    z.looseObject({ type: z.literal('Digits'), individual_digits: flag }),
    z.looseObject({ type: z.literal('Replace'), pattern, content: configString }),
    z.looseObject({ type: z.literal('FixedLength'), length: z.number().int().min(1).max(LIMITS.maxTokenChars) }),
  ]) as z.ZodType<Component>,
);

export const decoderSchema: z.ZodType<Component> = z.lazy(() =>
  z.discriminatedUnion('type', [
    chain('decoders', () => decoderSchema),
    z.looseObject({ type: z.enum(['Fuse', 'ByteFallback', 'ByteLevel', 'WordPiece', 'BPEDecoder', 'CTC']) }),
    z.looseObject({ type: z.literal('Replace'), pattern, content: configString }),
    z.looseObject({
      type: z.literal('Metaspace'),
      replacement: oneChar.optional(),
      prepend_scheme: z.enum(['always', 'first', 'never']).optional(),
      add_prefix_space: flag,
    }),
    z.looseObject({
      type: z.literal('Strip'),
      content: oneChar,
      start: z.number().int().min(0).max(LIMITS.maxTokenChars),
      stop: z.number().int().min(0).max(LIMITS.maxTokenChars),
    }),
  ]) as z.ZodType<Component>,
);

const specialTokenRef = z.looseObject({ id: tokenString, type_id: z.number().int().min(0).max(255).optional() });
const templatePiece = z.union([
  z.looseObject({ SpecialToken: specialTokenRef }),
  z.looseObject({ Sequence: z.looseObject({ id: z.enum(['A', 'B']), type_id: z.number().int().min(0).max(255).optional() }) }),
]);
const idPair = z.tuple([tokenString, id]);

export const postProcessorSchema: z.ZodType<Component> = z.lazy(() =>
  z.discriminatedUnion('type', [
    chain('processors', () => postProcessorSchema),
    z.looseObject({
      type: z.literal('TemplateProcessing'),
      single: z.array(templatePiece).max(LIMITS.maxChain),
      pair: z.array(templatePiece).max(LIMITS.maxChain).optional(),
      special_tokens: z.record(tokenString, z.looseObject({ id: tokenString, ids: z.array(id).max(LIMITS.maxChain), tokens: z.array(tokenString).max(LIMITS.maxChain) })).optional(),
    }),
    z.looseObject({ type: z.literal('ByteLevel'), add_prefix_space: flag, trim_offsets: flag, use_regex: flag }),
    z.looseObject({ type: z.enum(['BertProcessing', 'RobertaProcessing']), sep: idPair, cls: idPair, trim_offsets: flag, add_prefix_space: flag }),
  ]) as z.ZodType<Component>,
);

/**
 * token -> id object. Checked entry by entry over Object.entries (not z.record, whose output
 * drops a `__proto__` key, a plausible token of code vocabularies); the input object is kept.
 */
const vocabObject = z
  .custom<Record<string, number>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object of token: id')
  .superRefine((v, ctx) => {
    let n = 0;
    for (const token in v) {
      if (!Object.hasOwn(v, token)) continue;
      const value = v[token];
      if (++n > LIMITS.maxVocab) return ctx.addIssue({ code: 'custom', message: `more than ${LIMITS.maxVocab} entries` });
      if (token.length > LIMITS.maxTokenChars) return ctx.addIssue({ code: 'custom', message: `token longer than ${LIMITS.maxTokenChars} chars`, path: [token.slice(0, 40)] });
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= LIMITS.maxVocab) {
        return ctx.addIssue({ code: 'custom', message: `id ${JSON.stringify(value)?.slice(0, 40)} is not an integer in 0..${LIMITS.maxVocab - 1}`, path: [token] });
      }
    }
  });
const optionalToken = tokenString.nullish();

/**
 * Big arrays (280k merges, 250k Unigram entries) are checked by a plain loop: zod's per-element
 * tuple/union schemas cost seconds on a Llama-3-sized file. `check` returns a problem or null.
 */
function bigArray(max: number, min: number, what: string, check: (x: unknown) => string | null) {
  return z
    .custom<unknown[]>((v) => Array.isArray(v), `expected an array of ${what}`)
    .superRefine((v, ctx) => {
      if (v.length > max || v.length < min) return ctx.addIssue({ code: 'custom', message: `${v.length} entries (expected ${min}..${max})` });
      for (let i = 0; i < v.length; i++) {
        const problem = check(v[i]);
        if (problem !== null) return ctx.addIssue({ code: 'custom', message: problem, path: [i] });
      }
    });
}

const isToken = (x: unknown): x is string => typeof x === 'string' && x.length <= LIMITS.maxTokenChars;

const mergesArray = bigArray(LIMITS.maxMerges, 0, 'merges', (m) =>
  (typeof m === 'string' && m.length <= 2 * LIMITS.maxTokenChars + 1) || (Array.isArray(m) && m.length === 2 && isToken(m[0]) && isToken(m[1]))
    ? null
    : `expected "a b" or ["a", "b"] (tokens of at most ${LIMITS.maxTokenChars} chars)`,
);

const unigramVocab = bigArray(LIMITS.maxVocab, 1, '[piece, score]', (e) =>
  Array.isArray(e) && e.length === 2 && isToken(e[0]) && typeof e[1] === 'number' && Number.isFinite(e[1])
    ? null
    : `expected [piece, finite score] (pieces of at most ${LIMITS.maxTokenChars} chars)`,
);

const bpeModel = z.looseObject({
  type: z.literal('BPE'),
  vocab: vocabObject,
  merges: mergesArray,
  unk_token: optionalToken,
  continuing_subword_prefix: optionalToken,
  end_of_word_suffix: optionalToken,
  continuing_subword_suffix: optionalToken,
  fuse_unk: flag,
  byte_fallback: flag,
  ignore_merges: flag,
  dropout: z.number().min(0).max(1).nullish(),
});

const wordPieceModel = z.looseObject({
  type: z.literal('WordPiece'),
  vocab: vocabObject,
  unk_token: tokenString,
  continuing_subword_prefix: optionalToken,
  max_input_chars_per_word: z.number().int().min(1).max(LIMITS.maxWordPieceChars).optional(),
});

const unigramModel = z.looseObject({
  type: z.literal('Unigram'),
  vocab: unigramVocab,
  unk_id: id.nullish(),
  byte_fallback: flag,
});

/** Files without `type` in model: the Rust crate tells BPE (merges) from Unigram (vocab list). */
export function withModelType(model: unknown): unknown {
  if (typeof model !== 'object' || model === null || Array.isArray(model) || 'type' in model) return model;
  const m = model as Record<string, unknown>;
  if (Array.isArray(m.merges)) return { ...m, type: 'BPE' };
  if (Array.isArray(m.vocab)) return { ...m, type: 'Unigram' };
  return model;
}

const addedToken = z.looseObject({
  id,
  content: tokenString.min(1),
  special: flag,
  normalized: flag,
  lstrip: flag,
  rstrip: flag,
  single_word: flag,
});

export const tokenizerJsonSchema = z.looseObject({
  added_tokens: z.array(addedToken).max(LIMITS.maxVocab).nullish(),
  normalizer: normalizerSchema.nullish(),
  pre_tokenizer: preTokenizerSchema.nullish(),
  post_processor: postProcessorSchema.nullish(),
  decoder: decoderSchema.nullish(),
  model: z.preprocess(withModelType, z.discriminatedUnion('type', [bpeModel, wordPieceModel, unigramModel])),
});

export type TokenizerJson = z.infer<typeof tokenizerJsonSchema>;

const tokenRef = z.union([tokenString, z.looseObject({ content: tokenString })]).nullish();

/** The fields of tokenizer_config.json that are read (nothing else of it reaches the library). */
export const tokenizerConfigSchema = z.looseObject({
  bos_token: tokenRef,
  eos_token: tokenRef,
  unk_token: tokenRef,
  pad_token: tokenRef,
  add_bos_token: flag,
  add_eos_token: flag,
  chat_template: z
    .union([
      z.string().max(LIMITS.maxTemplateChars),
      z.array(z.looseObject({ name: configString.optional(), template: z.string().max(LIMITS.maxTemplateChars) })).max(LIMITS.maxChain),
    ])
    .nullish(),
});

export type TokenizerConfig = z.infer<typeof tokenizerConfigSchema>;

/** `a.b[3].c` from a zod issue path. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(document)' : out;
}

/**
 * Depth of nested arrays/objects, walked without recursion; stops as soon as
 * `max` is passed (so hostile nesting and cyclic objects cost O(max) per path).
 * Returns the path of the first node nested deeper than `max`, or null.
 */
export function tooDeep(root: unknown, max: number): string | null {
  if (typeof root !== 'object' || root === null) return null;
  // First pass without paths (cheap on 280k-merge files); the path is found only for a document that fails.
  const stack: Array<{ v: unknown; depth: number }> = [{ v: root, depth: 0 }];
  let failed = false;
  while (stack.length > 0 && !failed) {
    const { v, depth } = stack.pop()!;
    const visit = (c: unknown): boolean => {
      if (typeof c !== 'object' || c === null) return true;
      if (depth + 1 >= max) return false;
      // Merges ["a", "b"] and Unigram entries [piece, score]: leaves, nothing to push (280k of them in Llama 3).
      if (Array.isArray(c) && c.length <= 4 && c.every((x) => typeof x !== 'object' || x === null)) return true;
      stack.push({ v: c, depth: depth + 1 });
      return true;
    };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length && !failed; i++) failed = !visit(v[i]);
    } else {
      // for...in: no array of 128k values allocated for a vocabulary (JSON objects have no inherited keys).
      for (const k in v as object) if (!visit((v as Record<string, unknown>)[k])) { failed = true; break; }
    }
  }
  if (!failed) return null;
  // Second pass: the path of the first node found too deep.
  const named: Array<{ v: unknown; depth: number; path: string }> = [{ v: root, depth: 0, path: '' }];
  while (named.length > 0) {
    const { v, depth, path } = named.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return path === '' ? '(document)' : path;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (typeof v[i] === 'object' && v[i] !== null) named.push({ v: v[i], depth: depth + 1, path: `${path}[${i}]` });
    } else {
      for (const k of Object.keys(v)) {
        const c = (v as Record<string, unknown>)[k];
        if (typeof c === 'object' && c !== null) named.push({ v: c, depth: depth + 1, path: path === '' ? k : `${path}.${k}` });
      }
    }
  }
  return '(document)';
}

/** 'tokenizer.json: ' before a field path, unless the source already is that file. */
function prefix(source: string, what: string): string {
  return source === what || source.endsWith(`/${what}`) ? '' : `${what}: `;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, source: string, what: string): T {
  const deep = tooDeep(value, LIMITS.maxDepth);
  if (deep !== null) throw new ModelFormatError(source, `${prefix(source, what)}${deep} is nested more than ${LIMITS.maxDepth} levels deep`);
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const message = issue.message.replace(/\s+/g, ' ').slice(0, 200);
    throw new ModelFormatError(source, `${prefix(source, what)}${fieldPath(issue.path)}: ${message}`);
  }
  return r.data;
}

/**
 * Validates a parsed tokenizer.json (ModelFormatError naming the field otherwise) and checks its growth bound.
 * Returns the input itself (zod's output copies objects and drops `__proto__` keys), with `model.type` filled in.
 */
export function validateTokenizerJson(json: Record<string, unknown>, source: string): TokenizerJson {
  const doc = parseWith(tokenizerJsonSchema, json, source, 'tokenizer.json');
  const growth = normalizerGrowth(doc.normalizer) * preTokenizerGrowth(doc.pre_tokenizer);
  if (growth > LIMITS.maxGrowth) {
    throw new ModelFormatError(
      source,
      `${prefix(source, 'tokenizer.json')}normalizer and pre_tokenizer may grow the text ${growth > 1e9 ? 'more than 1e9' : Math.round(growth)} times (at most ${LIMITS.maxGrowth})`,
    );
  }
  const decoderGrowth = growthOf(doc.decoder, 'decoders', () => 1);
  if (decoderGrowth > LIMITS.maxGrowth) {
    throw new ModelFormatError(source, `${prefix(source, 'tokenizer.json')}decoder may grow each token ${decoderGrowth > 1e9 ? 'more than 1e9' : Math.round(decoderGrowth)} times (at most ${LIMITS.maxGrowth})`);
  }
  return { ...json, model: withModelType(json.model) } as TokenizerJson;
}

/** Validates tokenizer_config.json; returns the input itself. */
export function validateTokenizerConfig(config: Record<string, unknown>, source: string): TokenizerConfig {
  parseWith(tokenizerConfigSchema, config, source, 'tokenizer_config.json');
  return config as TokenizerConfig;
}

/**
 * Upper bound of output length / input length of a validated normalizer or
 * pre-tokenizer (both see text of at least one char, so a constant prefix
 * counts as one more time the input). Factors are the worst single-char cases:
 * NFKC/NFKD 18 (U+FDFA), ByteLevel 3 bytes per UTF-16 unit (+1 prefix space),
 * a Replace whose pattern can match empty text inserts `content` between chars.
 */
function replaceGrowth(cfg: Component): number {
  const p = cfg.pattern as { String?: string };
  const content = (cfg.content as string).length;
  if (typeof p.String === 'string' && p.String.length > 0) return Math.max(1, Math.ceil(content / p.String.length));
  return 1 + content;
}

/** Growth of a Sequence (product of its items) or of one component (Replace by its content, others by `other`). */
function growthOf(cfg: Component | null | undefined, items: string, other: (c: Component) => number): number {
  if (!cfg) return 1;
  if (cfg.type === 'Sequence') return (cfg[items] as Component[]).reduce((g, c) => g * growthOf(c, items, other), 1);
  if (cfg.type === 'Replace') return replaceGrowth(cfg);
  return other(cfg);
}

function normalizerGrowth(cfg: Component | null | undefined): number {
  if (!cfg) return 1;
  switch (cfg.type) {
    case 'Sequence':
      return (cfg.normalizers as Component[]).reduce((g, c) => g * normalizerGrowth(c), 1);
    case 'NFKC':
    case 'NFKD':
    case 'Precompiled':
      return 18;
    case 'NFC':
    case 'NFD':
      return 4;
    case 'Lowercase':
      return 3;
    case 'BertNormalizer':
      return 9;
    case 'Replace':
      return replaceGrowth(cfg);
    case 'Prepend':
      return 1 + (cfg.prepend as string).length;
    default:
      return 1;
  }
}

function preTokenizerGrowth(cfg: Component | null | undefined): number {
  if (!cfg) return 1;
  switch (cfg.type) {
    case 'Sequence':
      return (cfg.pretokenizers as Component[]).reduce((g, c) => g * preTokenizerGrowth(c), 1);
    case 'ByteLevel':
      return 4;
    case 'Metaspace':
      return 4; // one replacement (up to 2 units) per space, plus a prepended one
    case 'Replace':
      return replaceGrowth(cfg);
    default:
      return 1;
  }
}
