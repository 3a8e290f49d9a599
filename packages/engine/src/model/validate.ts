import { ModelFormatError } from '@bitexit/format';
import type { ModelConfig, TensorEntry } from './types.js';

/**
 * Upper bounds that no real Llama-family checkpoint comes near. They only
 * exist so a hostile header cannot make the engine allocate absurd buffers
 * (KV caches, RoPE tables) before any tensor is read.
 */
export const CONFIG_LIMITS = {
  dim: 1 << 16,
  nLayers: 1024,
  nHeads: 1024,
  headDim: 4096,
  ffnDim: 1 << 20,
  vocabSize: 1 << 22,
  contextLength: 1 << 24,
} as const;

function checkInt(file: string, field: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new ModelFormatError(file, `${field} must be an integer in 1..${max}, got ${String(value)}`);
  }
}

function checkPositive(file: string, field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ModelFormatError(file, `${field} must be a positive finite number, got ${String(value)}`);
  }
}

/** Throws ModelFormatError when a config is inconsistent or out of any sane range. */
export function validateConfig(file: string, c: ModelConfig): void {
  checkInt(file, 'dim (hidden size)', c.dim, CONFIG_LIMITS.dim);
  checkInt(file, 'layer count', c.nLayers, CONFIG_LIMITS.nLayers);
  checkInt(file, 'attention head count', c.nHeads, CONFIG_LIMITS.nHeads);
  checkInt(file, 'kv head count', c.nKvHeads, CONFIG_LIMITS.nHeads);
  checkInt(file, 'head dim', c.headDim, CONFIG_LIMITS.headDim);
  checkInt(file, 'feed-forward dim', c.ffnDim, CONFIG_LIMITS.ffnDim);
  checkInt(file, 'vocab size', c.vocabSize, CONFIG_LIMITS.vocabSize);
  checkInt(file, 'context length', c.contextLength, CONFIG_LIMITS.contextLength);
  checkInt(file, 'rope dimension count', c.ropeDim, CONFIG_LIMITS.headDim);
  checkPositive(file, 'rms norm epsilon', c.rmsEps);
  checkPositive(file, 'rope theta', c.ropeTheta);
  if (c.rmsEps >= 1) throw new ModelFormatError(file, `rms norm epsilon ${c.rmsEps} is implausibly large`);
  if (c.nHeads % c.nKvHeads !== 0) {
    throw new ModelFormatError(file, `attention head count ${c.nHeads} is not a multiple of kv head count ${c.nKvHeads}`);
  }
  if (c.ropeDim > c.headDim || c.ropeDim % 2 !== 0) {
    throw new ModelFormatError(file, `rope dimension count ${c.ropeDim} must be even and at most head dim ${c.headDim}`);
  }
  if (c.headDim % 2 !== 0) throw new ModelFormatError(file, `head dim ${c.headDim} must be even`);
  if (c.ropeStyle !== 'adjacent' && c.ropeStyle !== 'half') {
    throw new ModelFormatError(file, `unknown rope style '${String(c.ropeStyle)}'`);
  }
  const s = c.ropeScaling;
  if (s) {
    checkPositive(file, 'rope scaling factor', s.factor);
    if (s.type === 'llama3') {
      checkPositive(file, 'rope scaling low_freq_factor', s.lowFreqFactor);
      checkPositive(file, 'rope scaling high_freq_factor', s.highFreqFactor);
      checkInt(file, 'rope scaling original_max_position_embeddings', s.originalContextLength, CONFIG_LIMITS.contextLength);
      if (s.highFreqFactor <= s.lowFreqFactor) {
        throw new ModelFormatError(file, `rope scaling high_freq_factor ${s.highFreqFactor} must exceed low_freq_factor ${s.lowFreqFactor}`);
      }
    }
  }
}

/** The tensors a config requires, canonical name → expected shape ([out, in]). */
export function expectedTensors(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  m.set('token_embd.weight', [c.vocabSize, c.dim]);
  m.set('output_norm.weight', [c.dim]);
  if (!c.tiedEmbeddings) m.set('output.weight', [c.vocabSize, c.dim]);
  for (let i = 0; i < c.nLayers; i++) {
    const b = `blk.${i}.`;
    m.set(`${b}attn_norm.weight`, [c.dim]);
    m.set(`${b}attn_q.weight`, [qDim, c.dim]);
    m.set(`${b}attn_k.weight`, [kvDim, c.dim]);
    m.set(`${b}attn_v.weight`, [kvDim, c.dim]);
    if (c.qkvBias) {
      m.set(`${b}attn_q.bias`, [qDim]);
      m.set(`${b}attn_k.bias`, [kvDim]);
      m.set(`${b}attn_v.bias`, [kvDim]);
    }
    m.set(`${b}attn_output.weight`, [c.dim, qDim]);
    m.set(`${b}ffn_norm.weight`, [c.dim]);
    m.set(`${b}ffn_gate.weight`, [c.ffnDim, c.dim]);
    m.set(`${b}ffn_up.weight`, [c.ffnDim, c.dim]);
    m.set(`${b}ffn_down.weight`, [c.dim, c.ffnDim]);
  }
  return m;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Every required tensor present with the expected shape; unexpected extra
 * tensors are dropped from the map (returned so callers can report them).
 */
export function validateTensors(file: string, c: ModelConfig, tensors: Map<string, TensorEntry>): string[] {
  const expected = expectedTensors(c);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new ModelFormatError(file, `missing tensor '${name}' (expected shape ${fmt(shape)})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFormatError(
        file,
        `tensor '${t.sourceName}' (${name}) has shape ${fmt(t.shape)}, expected ${fmt(shape)} for this config`,
      );
    }
    if (t.dtype === 'q8_0' && shape[shape.length - 1] % 32 !== 0) {
      throw new ModelFormatError(file, `tensor '${t.sourceName}' is Q8_0 but its rows (${shape[shape.length - 1]}) are not a multiple of 32`);
    }
  }
  const extra: string[] = [];
  for (const name of [...tensors.keys()]) {
    if (!expected.has(name)) {
      extra.push(tensors.get(name)!.sourceName);
      tensors.delete(name);
    }
  }
  return extra;
}

/** Reads a non-negative integer field of a JSON object. */
export function jsonInt(file: string, obj: Record<string, unknown>, key: string, fallback?: number): number {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelFormatError(file, `missing required field '${key}'`);
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ModelFormatError(file, `field '${key}' must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function jsonNumber(file: string, obj: Record<string, unknown>, key: string, fallback?: number): number {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelFormatError(file, `missing required field '${key}'`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ModelFormatError(file, `field '${key}' must be a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}
