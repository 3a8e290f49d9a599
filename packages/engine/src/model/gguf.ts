import {
  ModelFormatError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  decodeToF32,
  encodeF32,
  ggmlToQ8_0,
  ggmlTypeAdvice,
  readGguf,
} from '@bitexit/format';
import type { ByteSource, GgufFile, GgufMetadataValue } from '@bitexit/format';
import { tokenizerFromGguf } from '@bitexit/tokenizer';
import type { Architecture, ModelConfig, ModelSource, RopeScaling, TensorEntry } from './types.js';
import { expectedTensors, validateConfig, validateTensors } from './validate.js';
import { loadConversionDType } from './conversion.js';

/** GGUF `general.architecture` values bitexit runs ('llama' also covers Mistral GGUFs). */
export const GGUF_ARCHITECTURES: readonly string[] = ['llama', 'qwen2'];

/** Keys bitexit's converter writes next to llama.cpp's rope_freqs.weight so the exact llama3 parameters survive. */
export const BITEXIT_LLAMA3_KEYS = {
  factor: 'bitexit.rope.scaling.llama3.factor',
  lowFreqFactor: 'bitexit.rope.scaling.llama3.low_freq_factor',
  highFreqFactor: 'bitexit.rope.scaling.llama3.high_freq_factor',
  originalContextLength: 'bitexit.rope.scaling.llama3.original_context_length',
} as const;

/**
 * Per-pair frequency divisors of Llama-3 rope scaling, as llama.cpp's
 * converter stores them in `rope_freqs.weight` (and as transformers'
 * `_compute_llama3_parameters` applies them): inv_freq[i] / factors[i].
 */
export function llama3RopeFactors(ropeDim: number, theta: number, s: Extract<RopeScaling, { type: 'llama3' }>): Float32Array {
  const lowWavelen = s.originalContextLength / s.lowFreqFactor;
  const highWavelen = s.originalContextLength / s.highFreqFactor;
  const out = new Float32Array(ropeDim / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = 1 / Math.pow(theta, (2 * i) / ropeDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalContextLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

function num(g: GgufFile, key: string, fallback?: number): number {
  const v = g.getNumber(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ModelFormatError(g.file, `missing metadata key '${key}'`);
  }
  return v;
}

async function ropeScalingOf(g: GgufFile, arch: string, ropeDim: number, theta: number): Promise<RopeScaling | null> {
  const file = g.file;
  let scaling: RopeScaling | null = null;
  const type = g.getString(`${arch}.rope.scaling.type`);
  if (type === 'linear') {
    scaling = { type: 'linear', factor: num(g, `${arch}.rope.scaling.factor`) };
  } else if (type !== undefined && type !== 'none') {
    throw new ModelFormatError(file, `unsupported rope scaling type '${type}' (supported: none, linear, llama3 via rope_freqs.weight)`);
  } else {
    const legacy = g.getNumber(`${arch}.rope.scale_linear`);
    if (legacy !== undefined && legacy !== 1) scaling = { type: 'linear', factor: legacy };
  }

  const freqs = g.tensor('rope_freqs.weight');
  if (!freqs) return scaling;
  // Llama 3.1+ GGUFs carry the llama3 frequency factors as a tensor. bitexit
  // expresses rope scaling by its parameters, so recover them: our own keys
  // when this file was written by bitexit, else the parameters every Llama
  // 3.x release uses (low 1, high 4, original context 8192) with the factor
  // read off the tensor; accept only if they reproduce the tensor.
  if (scaling) throw new ModelFormatError(file, 'has both rope.scaling.type and rope_freqs.weight');
  if (freqs.shape.length !== 1 || freqs.shape[0] !== ropeDim / 2) {
    throw new ModelFormatError(file, `tensor 'rope_freqs.weight' has shape [${freqs.shape.join(', ')}], expected [${ropeDim / 2}]`);
  }
  const stored = decodeToF32(await g.readTensor(freqs));
  const ours = g.getNumber(BITEXIT_LLAMA3_KEYS.factor);
  const candidate: Extract<RopeScaling, { type: 'llama3' }> =
    ours !== undefined
      ? {
          type: 'llama3',
          factor: ours,
          lowFreqFactor: num(g, BITEXIT_LLAMA3_KEYS.lowFreqFactor),
          highFreqFactor: num(g, BITEXIT_LLAMA3_KEYS.highFreqFactor),
          originalContextLength: num(g, BITEXIT_LLAMA3_KEYS.originalContextLength),
        }
      : { type: 'llama3', factor: Math.max(...stored), lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 };
  if (candidate.highFreqFactor <= candidate.lowFreqFactor || !(candidate.factor > 0) || !(candidate.originalContextLength > 0)) {
    throw new ModelFormatError(file, 'invalid llama3 rope scaling parameters');
  }
  const expect = llama3RopeFactors(ropeDim, theta, candidate);
  for (let i = 0; i < expect.length; i++) {
    if (!(Math.abs(expect[i] - stored[i]) <= 1e-4 * Math.max(1, Math.abs(expect[i])))) {
      throw new ModelFormatError(
        file,
        `rope_freqs.weight does not match Llama-3 rope scaling (factor ${candidate.factor}, low ${candidate.lowFreqFactor}, high ${candidate.highFreqFactor}, original context ${candidate.originalContextLength}); arbitrary rope frequency factors are not supported`,
      );
    }
  }
  if (candidate.factor === 1) return null;
  return candidate;
}

/** Builds ModelConfig from a parsed GGUF header (throws typed errors). */
export async function configFromGguf(g: GgufFile): Promise<ModelConfig> {
  const file = g.file;
  const arch = g.getString('general.architecture');
  if (arch === undefined) throw new ModelFormatError(file, "missing metadata key 'general.architecture'");
  if (!GGUF_ARCHITECTURES.includes(arch)) throw new UnsupportedArchitectureError(file, arch, GGUF_ARCHITECTURES);
  const dim = num(g, `${arch}.embedding_length`);
  const nHeads = num(g, `${arch}.attention.head_count`);
  if (!Number.isSafeInteger(nHeads) || nHeads < 1) {
    throw new ModelFormatError(file, `${arch}.attention.head_count must be a positive integer, got ${nHeads}`);
  }
  const keyLength = g.getNumber(`${arch}.attention.key_length`);
  const valueLength = g.getNumber(`${arch}.attention.value_length`);
  if (keyLength === undefined && dim % nHeads !== 0) {
    throw new ModelFormatError(file, `embedding_length ${dim} is not a multiple of head_count ${nHeads}`);
  }
  const headDim = keyLength ?? dim / nHeads;
  if (valueLength !== undefined && valueLength !== headDim) {
    throw new ModelFormatError(file, `attention.value_length ${valueLength} differs from key_length ${headDim} (unsupported)`);
  }
  const ropeDim = num(g, `${arch}.rope.dimension_count`, headDim);
  const ropeTheta = num(g, `${arch}.rope.freq_base`, 10000);
  const tokens = g.getArray('tokenizer.ggml.tokens');
  const embd = g.tensor('token_embd.weight');
  const vocabSize = embd?.shape[0] ?? g.getNumber(`${arch}.vocab_size`) ?? tokens?.length ?? 0;
  const config: ModelConfig = {
    architecture: arch as Architecture,
    dim,
    nLayers: num(g, `${arch}.block_count`),
    nHeads,
    nKvHeads: num(g, `${arch}.attention.head_count_kv`, nHeads),
    headDim,
    ffnDim: num(g, `${arch}.feed_forward_length`),
    vocabSize,
    contextLength: num(g, `${arch}.context_length`),
    rmsEps: num(g, `${arch}.attention.layer_norm_rms_epsilon`),
    ropeTheta,
    ropeDim,
    // llama.cpp's converter permutes Llama Q/K rows so adjacent pairs rotate
    // (LLAMA_ROPE_TYPE_NORM); Qwen2 keeps Hugging Face's rotate-half (NEOX).
    ropeStyle: arch === 'qwen2' ? 'half' : 'adjacent',
    ropeScaling: null,
    qkvBias: g.tensor('blk.0.attn_q.bias') !== undefined,
    tiedEmbeddings: g.tensor('output.weight') === undefined,
  };
  validateConfig(file, config);
  config.ropeScaling = await ropeScalingOf(g, arch, ropeDim, ropeTheta);
  validateConfig(file, config);
  return config;
}

/** Metadata as plain JSON-able values, with huge arrays and strings summarised. */
export function summariseGgufMetadata(metadata: Map<string, GgufMetadataValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of metadata) {
    if (v.type === 'array') {
      out[k] = v.value.length > 32 ? `<${v.itemType}[${v.value.length}]>` : v.value.map((x) => (typeof x === 'bigint' ? x.toString() : x));
    } else if (typeof v.value === 'bigint') out[k] = v.value.toString();
    else if (typeof v.value === 'string' && v.value.length > 8192) out[k] = `<string of ${v.value.length} chars>`;
    else out[k] = v.value;
  }
  return out;
}

/**
 * Opens a GGUF model (architectures llama, qwen2). Tensors of any type are listed;
 * F32, F16, BF16, Q8_0 and bx load as stored, the llama.cpp block types bitexit
 * decodes (Q4_0 ... Q6_K) are converted at load (conversion.ts), others are refused at load.
 */
export async function openGgufModel(source: ByteSource, options: { path?: string } = {}): Promise<ModelSource> {
  try {
    const g = await readGguf(source);
    const file = g.file;
    const config = await configFromGguf(g);
    const expected = expectedTensors(config);
    const tensors = new Map<string, TensorEntry>();
    const ignored: string[] = [];
    for (const info of g.tensors) {
      if (!expected.has(info.name)) {
        ignored.push(info.name);
        continue;
      }
      if (info.dtype !== null) {
        tensors.set(info.name, {
          name: info.name,
          sourceName: info.name,
          dtype: info.dtype,
          shape: [...info.shape],
          byteLength: info.byteLength!,
          load: () => g.readTensor(info),
        });
        continue;
      }
      // A type backends do not run: listed as stored (inspect reads any GGUF),
      // converted at load when bitexit decodes it (LOAD_CONVERSION), refused otherwise.
      const loadF32 = () => g.readTensorF32(info);
      tensors.set(info.name, {
        name: info.name,
        sourceName: info.name,
        dtype: loadConversionDType(info.shape),
        shape: [...info.shape],
        byteLength: info.byteLength ?? 0,
        stored: { type: info.typeName, decodable: info.decodable, ...(info.byteLength === null ? { unknownSize: true as const } : {}) },
        load: async () => {
          if (!info.decodable) throw new UnsupportedTensorTypeError(file, info.name, info.typeName, ggmlTypeAdvice(info.typeName));
          const shape = [...info.shape];
          if (loadConversionDType(shape) === 'f32') return { name: info.name, dtype: 'f32', shape, data: encodeF32(await loadF32()) };
          return { name: info.name, dtype: 'q8_0', shape, data: ggmlToQ8_0(info.ggmlType, await g.readTensorBytes(info), shape, file, info.name).data };
        },
        ...(info.decodable ? { loadF32 } : {}),
      });
    }
    validateTensors(file, config, tensors);
    const tokenizer = g.getString('tokenizer.ggml.model') !== undefined || g.getString('tokenizer.huggingface.json') !== undefined ? tokenizerFromGguf(g) : null;
    if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new ModelFormatError(file, `tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight has ${config.vocabSize} rows`);
    }
    let weightBytes = 0;
    for (const t of tensors.values()) weightBytes += t.byteLength;
    return {
      format: 'gguf',
      path: options.path ?? file,
      config,
      tensors,
      tokenizer,
      metadata: {
        version: g.version,
        alignment: g.alignment,
        kv: summariseGgufMetadata(g.metadata),
        ignoredTensors: ignored,
        notes: tokenizer ? [] : ['the GGUF file carries no tokenizer'],
      },
      weightBytes,
      tokenizerFiles: { kind: 'gguf', gguf: g },
      close: async () => {
        await source.close?.();
      },
    };
  } catch (e) {
    await source.close?.().catch(() => undefined);
    throw e;
  }
}
