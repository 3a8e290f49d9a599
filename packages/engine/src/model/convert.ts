import {
  ModelFormatError,
  decodeToF32,
  encodeBf16,
  encodeF16,
  encodeF32,
  encodeQ8_0,
  ggufValue,
  writeGguf,
} from '@bitexit/format';
import type { ByteSink, GgufMetadataValue, GgufTensorSpec, HostTensor, WeightDType } from '@bitexit/format';
import type { RopeStyle } from '@bitexit/backend';
import { BITEXIT_LLAMA3_KEYS, llama3RopeFactors } from './gguf.js';
import { adjacentToHalfRowOrder, halfToAdjacentRowOrder, permuteRows } from './permute.js';
import type { ModelConfig, ModelSource, TensorEntry, TokenizerFiles } from './types.js';
import { expectedTensors } from './validate.js';
import { loadExactTensor } from './conversion.js';

export type ConvertDType = 'keep' | 'f32' | 'f16' | 'bf16' | 'q8_0';

export interface ConvertOptions {
  /**
   * Storage type of 2-D weights: 'keep' (default) stores each tensor as it is
   * in the source; 'f16', 'bf16' and 'q8_0' keep 1-D tensors (norms, biases)
   * in f32 as llama.cpp does, and 'q8_0' falls back to f16 for matrices whose
   * rows are not multiples of 32.
   */
  dtype?: ConvertDType;
  /** general.name (default: the source's file or directory name). */
  name?: string;
}

export interface ConvertResult {
  architecture: string;
  tensorCount: number;
  /** Tensors whose Q/K rows were permuted from rotate-half to adjacent pairs (or back). */
  permutedTensors: string[];
  /** Per output dtype, how many tensors. */
  dtypes: Partial<Record<WeightDType, number>>;
  /** Things the caller should know (e.g. padded vocabulary, heuristics used). */
  notes: string[];
}

/** llama.cpp LLAMA_FTYPE of a file whose matrices are mostly `d`. */
const FILE_TYPE: Record<WeightDType, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32, bx: 1024 /* LLAMA_FTYPE_GUESSED: no llama.cpp type */ };

/** llama.cpp token types (llama_token_type). */
const TT = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

function baseName(path: string): string {
  const parts = path.replace(/[\\/]+$/, '').split(/[\\/]/);
  const last = parts[parts.length - 1] || path;
  return last.replace(/\.(gguf|bin)$/i, '');
}

function outputDType(entry: TensorEntry, want: ConvertDType): WeightDType {
  if (want === 'keep') return entry.dtype;
  if (entry.shape.length < 2) return want === 'f32' || want === 'f16' || want === 'bf16' || want === 'q8_0' ? 'f32' : entry.dtype;
  if (want === 'q8_0' && entry.shape[entry.shape.length - 1] % 32 !== 0) return 'f16';
  return want;
}

function encodeAs(t: HostTensor, dtype: WeightDType): Uint8Array {
  if (t.dtype === dtype) return t.data;
  const f = decodeToF32(t);
  switch (dtype) {
    case 'f32':
      return encodeF32(f);
    case 'f16':
      return encodeF16(f);
    case 'bf16':
      return encodeBf16(f);
    case 'q8_0':
      return encodeQ8_0(f, t.shape);
    case 'bx':
      throw new ModelFormatError(t.name, "cannot convert to 'bx' (use the quantizer)");
  }
}

// ---------------------------------------------------------------- tokenizer

type Meta = Array<[string, GgufMetadataValue]>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return null;
}

function padVocab(tokens: string[], scores: number[], types: number[], vocabSize: number, notes: string[]): void {
  if (tokens.length < vocabSize) {
    notes.push(`tokenizer has ${tokens.length} tokens, padded to the model's ${vocabSize} with [PAD{id}] entries`);
    for (let i = tokens.length; i < vocabSize; i++) {
      tokens.push(`[PAD${i}]`);
      scores.push(0);
      types.push(TT.unused);
    }
  }
}

function chatTemplateOf(cfg: Record<string, unknown> | null): string | null {
  const t = cfg?.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter(isRecord);
    const def = named.find((x) => x.name === 'default') ?? named[0];
    if (def && typeof def.template === 'string') return def.template;
  }
  return null;
}

function llama2cTokenizerMeta(files: Extract<TokenizerFiles, { kind: 'llama2c' }>, vocabSize: number, notes: string[]): Meta {
  const dec = new TextDecoder('utf-8', { fatal: false });
  const tokens: string[] = [];
  const types: number[] = [];
  files.pieces.forEach((p, id) => {
    let s = dec.decode(p);
    // llama2.c's export wrote BOS/EOS as "\n<s>\n" / "\n</s>\n" and '▁' as ' '.
    if (id === files.bosId || id === files.eosId) s = s.trim();
    s = s.replace(/ /g, '\u2581');
    tokens.push(s);
    types.push(id === 0 ? TT.unknown : id === files.bosId || id === files.eosId ? TT.control : BYTE_PIECE.test(s) ? TT.byte : TT.normal);
  });
  const scores = Array.from(files.scores);
  padVocab(tokens, scores, types, vocabSize, notes);
  return [
    ['tokenizer.ggml.model', ggufValue.string('llama')],
    ['tokenizer.ggml.tokens', ggufValue.strings(tokens)],
    ['tokenizer.ggml.scores', ggufValue.numbers('float32', scores)],
    ['tokenizer.ggml.token_type', ggufValue.numbers('int32', types)],
    ['tokenizer.ggml.unknown_token_id', ggufValue.uint32(0)],
    ['tokenizer.ggml.bos_token_id', ggufValue.uint32(files.bosId)],
    ['tokenizer.ggml.eos_token_id', ggufValue.uint32(files.eosId)],
    ['tokenizer.ggml.add_bos_token', ggufValue.bool(true)],
    ['tokenizer.ggml.add_eos_token', ggufValue.bool(false)],
  ];
}

function mergesOf(model: Record<string, unknown>): string[] {
  const raw = model.merges;
  if (!Array.isArray(raw)) return [];
  return raw.map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));
}

function hasSpacePrefix(json: Record<string, unknown>): boolean {
  const walk = (n: unknown, kind: 'normalizer' | 'pre'): boolean => {
    if (!isRecord(n)) return false;
    if (n.type === 'Sequence') {
      const list = (kind === 'normalizer' ? n.normalizers : n.pretokenizers) as unknown;
      return Array.isArray(list) && list.some((x) => walk(x, kind));
    }
    if (kind === 'normalizer') return n.type === 'Prepend' && n.prepend === '\u2581';
    if (n.type === 'Metaspace') return n.add_prefix_space === true || n.prepend_scheme === 'always' || n.prepend_scheme === 'first';
    return false;
  };
  return walk(json.normalizer, 'normalizer') || walk(json.pre_tokenizer, 'pre');
}

function isByteLevel(json: Record<string, unknown>): boolean {
  const has = (n: unknown): boolean => {
    if (!isRecord(n)) return false;
    if (n.type === 'ByteLevel') return true;
    for (const k of ['pretokenizers', 'decoders', 'processors']) {
      const list = n[k];
      if (Array.isArray(list) && list.some(has)) return true;
    }
    return false;
  };
  return has(json.pre_tokenizer) || has(json.decoder);
}

function huggingFaceTokenizerMeta(
  files: Extract<TokenizerFiles, { kind: 'huggingface' }>,
  source: ModelSource,
  arch: string,
  notes: string[],
): Meta {
  const file = `${source.path}/tokenizer.json`;
  let json: unknown;
  try {
    json = JSON.parse(files.tokenizerJson);
  } catch (e) {
    throw new ModelFormatError(file, `invalid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(json) || !isRecord(json.model)) throw new ModelFormatError(file, "no 'model' object");
  const model = json.model;
  const cfg = files.tokenizerConfig;
  const vocabSize = source.config.vocabSize;

  // id → piece, from the model vocab and the added tokens.
  const pieces: Array<string | undefined> = [];
  const unigramScores: number[] = [];
  if (model.type === 'Unigram' && Array.isArray(model.vocab)) {
    model.vocab.forEach((e, id) => {
      if (Array.isArray(e) && typeof e[0] === 'string') {
        pieces[id] = e[0];
        unigramScores[id] = typeof e[1] === 'number' ? e[1] : 0;
      }
    });
  } else if (isRecord(model.vocab)) {
    for (const [piece, id] of Object.entries(model.vocab)) {
      if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < vocabSize) pieces[id] = piece;
    }
  }
  const special = new Set<number>();
  const userDefined = new Set<number>();
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens) {
      if (!isRecord(t) || typeof t.id !== 'number' || typeof t.content !== 'string') continue;
      if (!Number.isSafeInteger(t.id) || t.id < 0 || t.id >= vocabSize) continue;
      pieces[t.id] = t.content;
      (t.special === true ? special : userDefined).add(t.id);
    }
  }
  const n = pieces.length;
  const unkPiece = typeof model.unk_token === 'string' ? model.unk_token : null;
  const idOf = new Map<string, number>();
  pieces.forEach((p, id) => p !== undefined && !idOf.has(p) && idOf.set(p, id));

  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < n; id++) {
    const p = pieces[id];
    if (p === undefined) {
      tokens.push(`[PAD${id}]`);
      types.push(TT.unused);
      continue;
    }
    tokens.push(p);
    if (p === unkPiece) types.push(TT.unknown);
    else if (special.has(id)) types.push(TT.control);
    else if (userDefined.has(id)) types.push(TT.userDefined);
    else if (BYTE_PIECE.test(p) && model.byte_fallback === true) types.push(TT.byte);
    else types.push(TT.normal);
  }

  const meta: Meta = [];
  const merges = mergesOf(model);
  let ggmlModel: string;
  let scores: number[] | null = null;
  if (model.type === 'BPE' && isByteLevel(json) && model.byte_fallback !== true) {
    ggmlModel = 'gpt2';
    let pre = 'default';
    if (arch === 'qwen2') pre = 'qwen2';
    else if (idOf.has('<|begin_of_text|>')) pre = 'llama-bpe';
    notes.push(`byte-level BPE tokenizer written as tokenizer.ggml.model 'gpt2' with pre-tokenizer '${pre}' (heuristic; bitexit itself reads tokenizer.huggingface.json)`);
    meta.push(['tokenizer.ggml.pre', ggufValue.string(pre)]);
  } else if (model.type === 'BPE' || model.type === 'Unigram') {
    // SentencePiece-style vocabulary. llama.cpp's SPM tokenizer merges the
    // adjacent pair whose concatenation has the highest score; scoring each
    // token by minus the rank of the merge that creates it reproduces HF BPE.
    ggmlModel = 'llama';
    if (model.type === 'Unigram') {
      scores = tokens.map((_, id) => unigramScores[id] ?? 0);
    } else {
      const rank = new Map<string, number>();
      merges.forEach((m, r) => {
        const sp = m.indexOf(' ');
        const merged = sp < 0 ? m : m.slice(0, sp) + m.slice(sp + 1);
        if (!rank.has(merged)) rank.set(merged, r);
      });
      scores = tokens.map((t, id) => {
        const r = rank.get(t);
        if (r !== undefined) return -r;
        return types[id] === TT.normal && [...t].length > 1 ? -(merges.length + id) : 0;
      });
    }
    meta.push(['tokenizer.ggml.add_space_prefix', ggufValue.bool(hasSpacePrefix(json))]);
  } else {
    ggmlModel = 'none';
    notes.push(`tokenizer model type ${JSON.stringify(model.type)} has no llama.cpp vocabulary form; only tokenizer.huggingface.json is written`);
  }

  const out: Meta = [['tokenizer.ggml.model', ggufValue.string(ggmlModel)]];
  if (ggmlModel !== 'none') {
    const sc = scores ?? tokens.map(() => 0);
    padVocab(tokens, sc, types, vocabSize, notes);
    out.push(...meta);
    out.push(['tokenizer.ggml.tokens', ggufValue.strings(tokens)]);
    if (ggmlModel === 'llama') out.push(['tokenizer.ggml.scores', ggufValue.numbers('float32', sc)]);
    out.push(['tokenizer.ggml.token_type', ggufValue.numbers('int32', types)]);
    if (ggmlModel === 'gpt2') out.push(['tokenizer.ggml.merges', ggufValue.strings(merges)]);
  }
  const tok = source.tokenizer;
  const bos = tok?.bosId ?? idOf.get(tokenContent(cfg?.bos_token) ?? '\u0000') ?? null;
  const eos = tok?.eosId ?? idOf.get(tokenContent(cfg?.eos_token) ?? '\u0000') ?? null;
  const unk = unkPiece !== null ? idOf.get(unkPiece) : undefined;
  const pad = idOf.get(tokenContent(cfg?.pad_token) ?? '\u0000');
  if (bos !== null) out.push(['tokenizer.ggml.bos_token_id', ggufValue.uint32(bos)]);
  if (eos !== null) out.push(['tokenizer.ggml.eos_token_id', ggufValue.uint32(eos)]);
  if (unk !== undefined) out.push(['tokenizer.ggml.unknown_token_id', ggufValue.uint32(unk)]);
  // Extra stop ids (generation_config.json eos lists, e.g. <|eot_id|>): llama.cpp's end-of-turn token.
  const eot = tok?.stopIds.find((id) => id !== eos && id < tokens.length);
  if (eot !== undefined) out.push(['tokenizer.ggml.eot_token_id', ggufValue.uint32(eot)]);
  if (pad !== undefined) out.push(['tokenizer.ggml.padding_token_id', ggufValue.uint32(pad)]);
  let addBos = typeof cfg?.add_bos_token === 'boolean' ? cfg.add_bos_token : null;
  if (addBos === null) {
    const pp = JSON.stringify(json.post_processor ?? null);
    addBos = bos !== null && pieces[bos] !== undefined && pp.includes(JSON.stringify(pieces[bos]));
  }
  out.push(['tokenizer.ggml.add_bos_token', ggufValue.bool(addBos)]);
  out.push(['tokenizer.ggml.add_eos_token', ggufValue.bool(cfg?.add_eos_token === true)]);
  const template = chatTemplateOf(cfg);
  if (template !== null) out.push(['tokenizer.chat_template', ggufValue.string(template)]);
  // The exact tokenizer, which bitexit's GGUF loader prefers over the ggml vocabulary.
  out.push(['tokenizer.huggingface.json', ggufValue.string(files.tokenizerJson)]);
  if (cfg) out.push(['tokenizer.huggingface.config', ggufValue.string(JSON.stringify(cfg))]);
  return out;
}

function tokenizerMeta(source: ModelSource, arch: string, notes: string[]): Meta {
  const files = source.tokenizerFiles;
  if (!files) {
    if (source.tokenizer) notes.push('the source tokenizer has no raw files to copy; the GGUF carries no tokenizer');
    return [];
  }
  switch (files.kind) {
    case 'gguf':
      return [...files.gguf.metadata].filter(([k]) => k.startsWith('tokenizer.'));
    case 'llama2c':
      return llama2cTokenizerMeta(files, source.config.vocabSize, notes);
    case 'huggingface':
      return huggingFaceTokenizerMeta(files, source, arch, notes);
  }
}

// ---------------------------------------------------------------- model

/** GGUF architecture name for a config ('mistral' is 'llama' in llama.cpp). */
export function ggufArchitecture(c: ModelConfig): 'llama' | 'qwen2' {
  return c.architecture === 'qwen2' ? 'qwen2' : 'llama';
}

/** The RoPE layout llama.cpp expects for a GGUF architecture. */
export function ggufRopeStyle(arch: 'llama' | 'qwen2'): RopeStyle {
  return arch === 'qwen2' ? 'half' : 'adjacent';
}

function hyperparameterMeta(c: ModelConfig, arch: string, name: string, fileType: number, quantized: boolean): Meta {
  const u32 = ggufValue.uint32;
  const m: Meta = [
    ['general.architecture', ggufValue.string(arch)],
    ['general.name', ggufValue.string(name)],
    ['general.file_type', u32(fileType)],
  ];
  if (quantized) m.push(['general.quantization_version', u32(2)]);
  m.push(
    [`${arch}.vocab_size`, u32(c.vocabSize)],
    [`${arch}.context_length`, u32(c.contextLength)],
    [`${arch}.embedding_length`, u32(c.dim)],
    [`${arch}.block_count`, u32(c.nLayers)],
    [`${arch}.feed_forward_length`, u32(c.ffnDim)],
    [`${arch}.rope.dimension_count`, u32(c.ropeDim)],
    [`${arch}.rope.freq_base`, ggufValue.float32(c.ropeTheta)],
    [`${arch}.attention.head_count`, u32(c.nHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.nKvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, ggufValue.float32(c.rmsEps)],
  );
  if (c.headDim * c.nHeads !== c.dim) {
    m.push([`${arch}.attention.key_length`, u32(c.headDim)], [`${arch}.attention.value_length`, u32(c.headDim)]);
  }
  const s = c.ropeScaling;
  if (s?.type === 'linear') {
    m.push([`${arch}.rope.scaling.type`, ggufValue.string('linear')], [`${arch}.rope.scaling.factor`, ggufValue.float32(s.factor)]);
  } else if (s?.type === 'llama3') {
    m.push(
      [BITEXIT_LLAMA3_KEYS.factor, ggufValue.float32(s.factor)],
      [BITEXIT_LLAMA3_KEYS.lowFreqFactor, ggufValue.float32(s.lowFreqFactor)],
      [BITEXIT_LLAMA3_KEYS.highFreqFactor, ggufValue.float32(s.highFreqFactor)],
      [BITEXIT_LLAMA3_KEYS.originalContextLength, u32(s.originalContextLength)],
    );
  }
  return m;
}

/**
 * Writes `source` as a llama.cpp-compatible GGUF v3 to `sink`, streaming one
 * tensor at a time. Llama/Mistral become GGUF 'llama' with Q/K rows in the
 * adjacent-pair RoPE layout (permuted exactly like llama.cpp's
 * convert_hf_to_gguf.py when the source rotates halves); Qwen2 stays
 * rotate-half ('qwen2', NeoX). Llama-3 rope scaling is written as llama.cpp's
 * `rope_freqs.weight` plus bitexit.* keys with the exact parameters.
 */
export async function convertToGguf(source: ModelSource, sink: ByteSink, options: ConvertOptions = {}): Promise<ConvertResult> {
  const c = source.config;
  const arch = ggufArchitecture(c);
  const want = options.dtype ?? 'keep';
  if (!['keep', 'f32', 'f16', 'bf16', 'q8_0'].includes(want)) {
    throw new ModelFormatError(source.path, `unknown conversion dtype '${String(want)}' (keep, f32, f16, bf16, q8_0)`);
  }
  const notes: string[] = [];
  const from = c.ropeStyle;
  const to = ggufRopeStyle(arch);
  const order = (heads: number): Int32Array | null =>
    from === to ? null : from === 'half' ? halfToAdjacentRowOrder(heads, c.headDim, c.ropeDim) : adjacentToHalfRowOrder(heads, c.headDim, c.ropeDim);
  const qOrder = order(c.nHeads);
  const kOrder = order(c.nKvHeads);

  const tensors: GgufTensorSpec[] = [];
  const permuted: string[] = [];
  const dtypes: Partial<Record<WeightDType, number>> = {};
  const matrixTypes: Partial<Record<WeightDType, number>> = {};
  if (c.ropeScaling?.type === 'llama3') {
    const factors = llama3RopeFactors(c.ropeDim, c.ropeTheta, c.ropeScaling);
    tensors.push({ name: 'rope_freqs.weight', dtype: 'f32', shape: [factors.length], data: encodeF32(factors) });
    dtypes.f32 = (dtypes.f32 ?? 0) + 1;
  }
  for (const name of expectedTensors(c).keys()) {
    const entry = source.tensors.get(name);
    if (!entry) throw new ModelFormatError(source.path, `missing tensor '${name}'`);
    const dtype = outputDType(entry, want);
    const isQ = /^blk\.\d+\.attn_q\.(weight|bias)$/.test(name);
    const isK = /^blk\.\d+\.attn_k\.(weight|bias)$/.test(name);
    const perm = isQ ? qOrder : isK ? kOrder : null;
    if (perm) permuted.push(name);
    dtypes[dtype] = (dtypes[dtype] ?? 0) + 1;
    if (entry.shape.length >= 2) matrixTypes[dtype] = (matrixTypes[dtype] ?? 0) + 1;
    tensors.push({
      name,
      dtype,
      shape: [...entry.shape],
      data: async () => {
        let t = await loadExactTensor(entry);
        if (perm) t = permuteRows(t, perm, source.path);
        return encodeAs(t, dtype);
      },
    });
  }
  let main: WeightDType = 'f32';
  let best = -1;
  for (const [d, k] of Object.entries(matrixTypes) as Array<[WeightDType, number]>) {
    if (k > best) {
      best = k;
      main = d;
    }
  }
  const name = options.name ?? baseName(source.path);
  const metadata: Meta = [
    ...hyperparameterMeta(c, arch, name, FILE_TYPE[main], (dtypes.q8_0 ?? 0) > 0),
    ...tokenizerMeta(source, arch, notes),
  ];
  if (from !== to) notes.push(`Q/K rows permuted from ${from} to ${to} RoPE layout (${permuted.length} tensors)`);
  await writeGguf(sink, { version: 3, metadata, tensors, name: options.name ?? source.path });
  return { architecture: arch, tensorCount: tensors.length, permutedTensors: permuted, dtypes, notes };
}

/** What `ggufModelHeader` returns: everything of a bitexit GGUF except the weight tensors. */
export interface GgufModelHeader {
  architecture: 'llama' | 'qwen2';
  /** RoPE layout of the file's Q/K rows. */
  ropeStyle: RopeStyle;
  /** Hyperparameters and tokenizer (chat template included), in convertToGguf's order. */
  metadata: Array<[string, GgufMetadataValue]>;
  /** Tensors the file needs besides the model's weights (llama3 `rope_freqs.weight`). */
  extraTensors: GgufTensorSpec[];
  /** Row orders to apply to attn_q / attn_k weights and biases (null: keep), from the source's RoPE layout to the file's. */
  rowOrders: { q: Int32Array | null; k: Int32Array | null };
  notes: string[];
}

/**
 * The metadata and extra tensors `convertToGguf` writes, for other GGUF
 * writers (the quantizer): `fileType` is general.file_type, `quantized`
 * adds general.quantization_version.
 */
export function ggufModelHeader(source: ModelSource, options: { name?: string; fileType: number; quantized: boolean }): GgufModelHeader {
  const c = source.config;
  const arch = ggufArchitecture(c);
  const notes: string[] = [];
  const from = c.ropeStyle;
  const to = ggufRopeStyle(arch);
  const order = (heads: number): Int32Array | null =>
    from === to ? null : from === 'half' ? halfToAdjacentRowOrder(heads, c.headDim, c.ropeDim) : adjacentToHalfRowOrder(heads, c.headDim, c.ropeDim);
  const extraTensors: GgufTensorSpec[] = [];
  if (c.ropeScaling?.type === 'llama3') {
    const factors = llama3RopeFactors(c.ropeDim, c.ropeTheta, c.ropeScaling);
    extraTensors.push({ name: 'rope_freqs.weight', dtype: 'f32', shape: [factors.length], data: encodeF32(factors) });
  }
  const name = options.name ?? baseName(source.path);
  const metadata: Meta = [...hyperparameterMeta(c, arch, name, options.fileType, options.quantized), ...tokenizerMeta(source, arch, notes)];
  if (from !== to) notes.push(`Q/K rows permuted from ${from} to ${to} RoPE layout`);
  return { architecture: arch, ropeStyle: to, metadata, extraTensors, rowOrders: { q: order(c.nHeads), k: order(c.nKvHeads) }, notes };
}
