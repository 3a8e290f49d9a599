import {
  FileAccessError,
  ModelFormatError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  parseSafetensorsIndex,
  readSafetensors,
  weightByteLength,
} from '@bitexit/format';
import type { ByteSource, SafetensorsFile, WeightDType } from '@bitexit/format';
import { HuggingFaceTokenizer } from '@bitexit/tokenizer';
import type { Tokenizer } from '@bitexit/tokenizer';
import type { ModelDirectory } from './directory.js';
import type { Architecture, ModelConfig, ModelSource, RopeScaling, TensorEntry } from './types.js';
import { jsonInt, jsonNumber, validateConfig, validateTensors } from './validate.js';

/** Hugging Face `architectures` values bitexit runs, and what they map to. */
export const HF_ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

const MODEL_TYPES: Readonly<Record<string, Architecture>> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2' };

const SAFETENSORS_DTYPES: Readonly<Record<string, WeightDType>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(file, `invalid JSON: ${(e as Error).message}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseRopeScaling(file: string, raw: unknown): RopeScaling | null {
  if (raw === undefined || raw === null) return null;
  if (!isRecord(raw)) throw new ModelFormatError(file, `rope_scaling must be an object or null`);
  const type = raw.rope_type ?? raw.type;
  if (type === 'default' || type === 'none') return null;
  if (type === 'linear') return { type: 'linear', factor: jsonNumber(file, raw, 'factor') };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: jsonNumber(file, raw, 'factor'),
      lowFreqFactor: jsonNumber(file, raw, 'low_freq_factor'),
      highFreqFactor: jsonNumber(file, raw, 'high_freq_factor'),
      originalContextLength: jsonInt(file, raw, 'original_max_position_embeddings'),
    };
  }
  throw new ModelFormatError(file, `unsupported rope_scaling type ${JSON.stringify(type)} (supported: linear, llama3)`);
}

/** Parses a Hugging Face config.json object into a ModelConfig (without tensor checks). */
export function configFromHuggingFace(
  file: string,
  raw: unknown,
): { config: ModelConfig; notes: string[]; slidingWindow: number | null; tieSpecified: boolean } {
  if (!isRecord(raw)) throw new ModelFormatError(file, 'config.json must hold a JSON object');
  const archs = raw.architectures;
  let hfArch: string | undefined;
  if (archs !== undefined) {
    if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
      throw new ModelFormatError(file, "'architectures' must be a non-empty array of strings");
    }
    hfArch = archs[0];
  }
  let architecture: Architecture | undefined;
  if (hfArch !== undefined) {
    architecture = Object.hasOwn(HF_ARCHITECTURES, hfArch) ? HF_ARCHITECTURES[hfArch] : undefined;
    if (!architecture) throw new UnsupportedArchitectureError(file, hfArch, Object.keys(HF_ARCHITECTURES));
  } else {
    const mt = raw.model_type;
    architecture = typeof mt === 'string' && Object.hasOwn(MODEL_TYPES, mt) ? MODEL_TYPES[mt] : undefined;
    if (!architecture) {
      throw new UnsupportedArchitectureError(file, typeof mt === 'string' ? mt : '(none: no architectures or model_type)', Object.keys(HF_ARCHITECTURES));
    }
  }
  const act = raw.hidden_act ?? raw.hidden_activation;
  if (act !== undefined && act !== 'silu') {
    throw new ModelFormatError(file, `unsupported hidden_act ${JSON.stringify(act)} (only silu)`);
  }
  if (architecture !== 'qwen2' && raw.attention_bias === true) {
    throw new ModelFormatError(file, 'attention_bias=true is not supported (output projection bias)');
  }
  if (raw.mlp_bias === true) throw new ModelFormatError(file, 'mlp_bias=true is not supported');

  const dim = jsonInt(file, raw, 'hidden_size');
  const nHeads = jsonInt(file, raw, 'num_attention_heads');
  if (nHeads === 0) throw new ModelFormatError(file, 'num_attention_heads must be positive');
  const nKvHeads = jsonInt(file, raw, 'num_key_value_heads', nHeads);
  let headDim: number;
  if (raw.head_dim !== undefined && raw.head_dim !== null) headDim = jsonInt(file, raw, 'head_dim');
  else {
    if (dim % nHeads !== 0) throw new ModelFormatError(file, `hidden_size ${dim} is not a multiple of num_attention_heads ${nHeads}`);
    headDim = dim / nHeads;
  }
  const notes: string[] = [];
  let slidingWindow: number | null = null;
  const sw = raw.sliding_window;
  const swUsed = architecture === 'qwen2' ? raw.use_sliding_window === true : true;
  if (typeof sw === 'number' && swUsed) {
    slidingWindow = sw;
    notes.push(`sliding_window=${sw} is recorded but bitexit runs full causal attention (identical while the context stays within ${sw} tokens)`);
  }
  const tieSpecified = typeof raw.tie_word_embeddings === 'boolean';
  const config: ModelConfig = {
    architecture,
    dim,
    nLayers: jsonInt(file, raw, 'num_hidden_layers'),
    nHeads,
    nKvHeads,
    headDim,
    ffnDim: jsonInt(file, raw, 'intermediate_size'),
    vocabSize: jsonInt(file, raw, 'vocab_size'),
    contextLength: jsonInt(file, raw, 'max_position_embeddings', 2048),
    rmsEps: jsonNumber(file, raw, 'rms_norm_eps', 1e-6),
    ropeTheta: jsonNumber(file, raw, 'rope_theta', 10000),
    ropeDim: headDim,
    ropeStyle: 'half',
    ropeScaling: parseRopeScaling(file, raw.rope_scaling),
    qkvBias: architecture === 'qwen2',
    tiedEmbeddings: raw.tie_word_embeddings === true,
  };
  validateConfig(file, config);
  return { config, notes, slidingWindow, tieSpecified };
}

const LAYER_MAP: Readonly<Record<string, string>> = {
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
  'input_layernorm.weight': 'attn_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
};

/** Hugging Face tensor name → canonical (GGUF-style) name, or null for tensors bitexit does not use. */
export function canonicalHfName(name: string): string | null {
  if (name === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (name === 'model.norm.weight') return 'output_norm.weight';
  if (name === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (m && Object.hasOwn(LAYER_MAP, m[2]) && m[1].length < 6) return `blk.${Number(m[1])}.${LAYER_MAP[m[2]]}`;
  return null;
}

/** The raw tokenizer files of a Hugging Face directory, kept for conversion. */
export interface HuggingFaceTokenizerFiles {
  kind: 'huggingface';
  /** tokenizer.json, verbatim. */
  tokenizerJson: string;
  /** tokenizer_config.json parsed (with chat_template filled from chat_template.jinja when only that exists). */
  tokenizerConfig: Record<string, unknown> | null;
}

async function loadTokenizer(
  dir: ModelDirectory,
  config: ModelConfig,
  notes: string[],
): Promise<{ tokenizer: Tokenizer | null; files: HuggingFaceTokenizerFiles | null }> {
  const tokText = await dir.readText('tokenizer.json');
  if (tokText === null) {
    notes.push('no tokenizer.json: the model has no tokenizer (only token ids can be used)');
    return { tokenizer: null, files: null };
  }
  const tokJson = parseJson(dir.join('tokenizer.json'), tokText);
  let cfg: Record<string, unknown> | null = null;
  const cfgText = await dir.readText('tokenizer_config.json');
  if (cfgText !== null) {
    const parsed = parseJson(dir.join('tokenizer_config.json'), cfgText);
    if (!isRecord(parsed)) throw new ModelFormatError(dir.join('tokenizer_config.json'), 'must hold a JSON object');
    cfg = parsed;
  }
  if (!cfg || cfg.chat_template === undefined) {
    const jinja = await dir.readText('chat_template.jinja');
    if (jinja !== null) cfg = { ...(cfg ?? {}), chat_template: jinja };
  }
  // generation_config.json may list more eos ids (e.g. Llama 3 instruct's <|eot_id|>): they stop generation too.
  const extraStopIds: number[] = [];
  const genText = await dir.readText('generation_config.json');
  if (genText !== null) {
    const gen = parseJson(dir.join('generation_config.json'), genText);
    if (isRecord(gen)) {
      const eos = gen.eos_token_id;
      for (const x of Array.isArray(eos) ? eos : [eos]) {
        if (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) extraStopIds.push(x);
      }
    }
  }
  const tokenizer: Tokenizer = HuggingFaceTokenizer.fromJSON(tokJson, cfg ?? undefined, {
    source: dir.join('tokenizer.json'),
    extraStopIds: extraStopIds.filter((id) => id < config.vocabSize),
  });
  return { tokenizer, files: { kind: 'huggingface', tokenizerJson: tokText, tokenizerConfig: cfg } };
}

/**
 * Opens a Hugging Face model directory: config.json, model.safetensors or a
 * sharded model.safetensors.index.json, tokenizer.json (+ tokenizer_config.json,
 * generation_config.json). Only headers are read; tensors load on demand.
 */
export async function openHuggingFaceModel(dir: ModelDirectory): Promise<ModelSource> {
  const configFile = dir.join('config.json');
  const configText = await dir.readText('config.json');
  if (configText === null) throw new FileAccessError(configFile, 'not found (a Hugging Face model directory needs config.json)');
  const rawConfig = parseJson(configFile, configText);
  const { config, notes, slidingWindow, tieSpecified } = configFromHuggingFace(configFile, rawConfig);

  // Which shard holds which tensor.
  const shardOf = new Map<string, string>();
  const shardNames: string[] = [];
  const indexText = await dir.readText('model.safetensors.index.json');
  let sharded = false;
  if (indexText !== null) {
    sharded = true;
    const indexFile = dir.join('model.safetensors.index.json');
    const { weightMap } = parseSafetensorsIndex(parseJson(indexFile, indexText), indexFile);
    for (const [tensor, shard] of weightMap) {
      shardOf.set(tensor, shard);
      if (!shardNames.includes(shard)) shardNames.push(shard);
    }
  } else {
    shardNames.push('model.safetensors');
  }

  const sources: ByteSource[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(sources.map((s) => s.close?.()));
  };
  try {
    const tensors = new Map<string, TensorEntry>();
    const ignored: string[] = [];
    let lmHead: TensorEntry | undefined;
    for (const shard of shardNames) {
      const shardPath = dir.join(shard);
      let source: ByteSource;
      try {
        source = await dir.open(shard);
      } catch (e) {
        if (e instanceof FileAccessError && !sharded) {
          throw new FileAccessError(
            dir.name,
            'no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)',
            { cause: e },
          );
        }
        throw e;
      }
      sources.push(source);
      const st: SafetensorsFile = await readSafetensors(source);
      const present = new Set<string>();
      for (const info of st.tensors) {
        present.add(info.name);
        if (sharded && shardOf.get(info.name) !== shard) continue; // the index is authoritative
        const canonical = canonicalHfName(info.name);
        if (canonical === null) {
          ignored.push(info.name);
          continue;
        }
        const dtype = Object.hasOwn(SAFETENSORS_DTYPES, info.dtype) ? SAFETENSORS_DTYPES[info.dtype] : undefined;
        if (!dtype) throw new UnsupportedTensorTypeError(shardPath, info.name, info.dtype);
        if (weightByteLength(dtype, info.shape) !== info.byteLength) {
          throw new ModelFormatError(shardPath, `tensor '${info.name}' has ${info.byteLength} bytes, expected ${weightByteLength(dtype, info.shape)} for ${info.dtype} ${JSON.stringify(info.shape)}`);
        }
        const name = info.name;
        const entry: TensorEntry = {
          name: canonical,
          sourceName: sharded ? `${shard}:${name}` : name,
          dtype,
          shape: [...info.shape],
          byteLength: info.byteLength,
          load: async () => {
            const t = await st.readTensor(name);
            return { name: canonical, dtype: t.dtype, shape: t.shape, data: t.data };
          },
        };
        if (tensors.has(canonical)) throw new ModelFormatError(shardPath, `tensor '${name}' appears twice`);
        if (canonical === 'output.weight') lmHead = entry;
        tensors.set(canonical, entry);
      }
      if (sharded) {
        for (const [t, s] of shardOf) {
          if (s === shard && !present.has(t)) {
            throw new ModelFormatError(shardPath, `tensor '${t}' is listed in model.safetensors.index.json but missing from this shard`);
          }
        }
      }
    }

    // Tied embeddings: some checkpoints store only lm_head.weight (the fixture's does), some only embed_tokens.
    if (!tieSpecified && !tensors.has('output.weight') && tensors.has('token_embd.weight')) config.tiedEmbeddings = true;
    if (config.tiedEmbeddings) {
      if (!tensors.has('token_embd.weight') && lmHead) {
        tensors.set('token_embd.weight', { ...lmHead, name: 'token_embd.weight', load: async () => ({ ...(await lmHead.load()), name: 'token_embd.weight' }) });
      }
      tensors.delete('output.weight');
    }
    if (config.qkvBias && !tensors.has('blk.0.attn_q.bias')) {
      throw new ModelFormatError(dir.name, `missing tensor 'model.layers.0.self_attn.q_proj.bias' (${config.architecture} has q/k/v biases)`);
    }
    if (!config.qkvBias && tensors.has('blk.0.attn_q.bias')) config.qkvBias = true;
    ignored.push(...validateTensors(dir.name, config, tensors));

    const { tokenizer, files } = await loadTokenizer(dir, config, notes);
    if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new ModelFormatError(dir.join('tokenizer.json'), `tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}`);
    }
    let weightBytes = 0;
    for (const t of tensors.values()) weightBytes += t.byteLength;
    const source: ModelSource = {
      format: 'huggingface',
      path: dir.name,
      config,
      tensors,
      tokenizer,
      metadata: {
        config: rawConfig,
        sharded,
        shards: shardNames,
        slidingWindow,
        notes,
        ignoredTensors: ignored,
      },
      weightBytes,
      close: closeAll,
    };
    if (files) source.tokenizerFiles = files;
    return source;
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
}
