/**
 * Helpers for the loader tests: tiny synthetic models written as Hugging Face
 * directories (hand-built safetensors) or GGUF files. Not exported from the
 * package.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeBf16, encodeF16, encodeF32, encodeSafetensors, type SafetensorsEntry } from '@bitexit/format';
import type { ModelConfig } from './types.js';

export async function tempDir(prefix = 'bitexit-model-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random numbers in [-1, 1). */
export function randomF32(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

export { encodeSafetensors, type SafetensorsEntry } from '@bitexit/format';

export interface TinyHfOptions {
  architecture?: string;
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  ffn?: number;
  vocab?: number;
  dtype?: 'F32' | 'F16' | 'BF16';
  tied?: boolean;
  bias?: boolean;
  /** Extra / overriding config.json fields. */
  config?: Record<string, unknown>;
}

/** Tensors (HF names, f32 values) and config.json of a tiny random Llama-family model. */
export function tinyHfModel(o: TinyHfOptions = {}): { config: Record<string, unknown>; tensors: Map<string, { shape: number[]; values: Float32Array }> } {
  const hidden = o.hidden ?? 16;
  const layers = o.layers ?? 2;
  const heads = o.heads ?? 4;
  const kvHeads = o.kvHeads ?? 2;
  const ffn = o.ffn ?? 24;
  const vocab = o.vocab ?? 32;
  const hd = hidden / heads;
  const tied = o.tied ?? false;
  const config: Record<string, unknown> = {
    architectures: [o.architecture ?? 'LlamaForCausalLM'],
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    intermediate_size: ffn,
    vocab_size: vocab,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: tied,
    hidden_act: 'silu',
    ...o.config,
  };
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  let seed = 1;
  const add = (name: string, shape: number[]): void => {
    tensors.set(name, { shape, values: randomF32(shape.reduce((a, b) => a * b, 1), seed++) });
  };
  add('model.embed_tokens.weight', [vocab, hidden]);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [hidden]);
    add(`${p}self_attn.q_proj.weight`, [heads * hd, hidden]);
    add(`${p}self_attn.k_proj.weight`, [kvHeads * hd, hidden]);
    add(`${p}self_attn.v_proj.weight`, [kvHeads * hd, hidden]);
    if (o.bias) {
      add(`${p}self_attn.q_proj.bias`, [heads * hd]);
      add(`${p}self_attn.k_proj.bias`, [kvHeads * hd]);
      add(`${p}self_attn.v_proj.bias`, [kvHeads * hd]);
    }
    add(`${p}self_attn.o_proj.weight`, [hidden, heads * hd]);
    add(`${p}post_attention_layernorm.weight`, [hidden]);
    add(`${p}mlp.gate_proj.weight`, [ffn, hidden]);
    add(`${p}mlp.up_proj.weight`, [ffn, hidden]);
    add(`${p}mlp.down_proj.weight`, [hidden, ffn]);
  }
  add('model.norm.weight', [hidden]);
  if (!tied) add('lm_head.weight', [vocab, hidden]);
  return { config, tensors };
}

export function encodeValues(values: Float32Array, dtype: string): Uint8Array {
  if (dtype === 'F16') return encodeF16(values);
  if (dtype === 'BF16') return encodeBf16(values);
  return encodeF32(values);
}

/**
 * Writes a Hugging Face directory. `shards` > 1 splits tensors round-robin
 * into model-0000i-of-0000n.safetensors with an index.
 */
export async function writeHfDir(
  dir: string,
  model: ReturnType<typeof tinyHfModel>,
  opts: { dtype?: string; shards?: number; tokenizerJson?: unknown; tokenizerConfig?: unknown } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(model.config));
  const dtype = opts.dtype ?? 'F32';
  const entries: SafetensorsEntry[] = [...model.tensors].map(([name, t]) => ({ name, dtype, shape: t.shape, data: encodeValues(t.values, dtype) }));
  const shards = opts.shards ?? 1;
  if (shards <= 1) {
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(entries));
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = entries.filter((_, i) => i % shards === s);
      for (const e of part) weightMap[e.name] = file;
      await mkdir(dirname(join(dir, file)), { recursive: true });
      await writeFile(join(dir, file), encodeSafetensors(part));
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  if (opts.tokenizerJson !== undefined) await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(opts.tokenizerJson));
  if (opts.tokenizerConfig !== undefined) await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(opts.tokenizerConfig));
}

/** stories260K.gguf's config (the fixture README's numbers). */
export const STORIES260K_CONFIG: ModelConfig = {
  architecture: 'llama',
  dim: 64,
  nLayers: 5,
  nHeads: 8,
  nKvHeads: 4,
  headDim: 8,
  ffnDim: 172,
  vocabSize: 512,
  contextLength: 2048,
  rmsEps: Math.fround(1e-5),
  ropeTheta: 10000,
  ropeDim: 8,
  ropeStyle: 'adjacent',
  ropeScaling: null,
  qkvBias: false,
  tiedEmbeddings: false,
};
