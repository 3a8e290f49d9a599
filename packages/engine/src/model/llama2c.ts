import { ModelFormatError, readLlama2cCheckpoint, readLlama2cTokenizer } from '@bitexit/format';
import type { ByteSource, HostTensor } from '@bitexit/format';
import { SentencePieceTokenizer } from '@bitexit/tokenizer';
import type { Tokenizer } from '@bitexit/tokenizer';
import type { ModelConfig, ModelSource, TensorEntry, TokenizerFiles } from './types.js';
import { validateConfig, validateTensors } from './validate.js';

/** llama2.c per-layer tensor → canonical suffix. */
export const LLAMA2C_LAYER_TENSORS: Readonly<Record<string, string>> = {
  rms_att_weight: 'attn_norm.weight',
  wq: 'attn_q.weight',
  wk: 'attn_k.weight',
  wv: 'attn_v.weight',
  wo: 'attn_output.weight',
  rms_ffn_weight: 'ffn_norm.weight',
  w1: 'ffn_gate.weight',
  w2: 'ffn_down.weight',
  w3: 'ffn_up.weight',
};

export const LLAMA2C_BOS = 1;
export const LLAMA2C_EOS = 2;

export interface OpenLlama2cOptions {
  /**
   * The tokenizer.bin, or a function that finds it once the vocab size is
   * known (the Node opener looks for tok{vocab}.bin beside the checkpoint).
   * null: the source gets `tokenizer: null`.
   */
  tokenizer?: ByteSource | null | ((vocabSize: number) => Promise<ByteSource | null>);
  /** Path reported in ModelSource.path (default: the checkpoint's name). */
  path?: string;
}

/**
 * Opens a llama2.c v0 checkpoint (Karpathy's run.c format): 7-int header, f32
 * weights, adjacent-pair RoPE, theta 10000, rms eps 1e-5.
 */
export async function openLlama2cModel(checkpoint: ByteSource, options: OpenLlama2cOptions = {}): Promise<ModelSource> {
  try {
    return await openLlama2c(checkpoint, options);
  } catch (e) {
    await checkpoint.close?.().catch(() => undefined);
    throw e;
  }
}

async function openLlama2c(checkpoint: ByteSource, options: OpenLlama2cOptions): Promise<ModelSource> {
  const file = checkpoint.name;
  const ckpt = await readLlama2cCheckpoint(checkpoint);
  const h = ckpt.config;
  if (!(h.nHeads > 0) || h.dim % h.nHeads !== 0) {
    throw new ModelFormatError(file, `dim ${h.dim} is not a multiple of n_heads ${h.nHeads}`);
  }
  const headDim = h.dim / h.nHeads;
  const config: ModelConfig = {
    architecture: 'llama',
    dim: h.dim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    headDim,
    ffnDim: h.hiddenDim,
    vocabSize: h.vocabSize,
    contextLength: h.seqLen,
    rmsEps: 1e-5,
    ropeTheta: 10000,
    ropeDim: headDim,
    ropeStyle: 'adjacent',
    ropeScaling: null,
    qkvBias: false,
    tiedEmbeddings: h.sharedClassifier,
  };
  validateConfig(file, config);

  const tensors = new Map<string, TensorEntry>();
  const rename = (t: HostTensor, name: string): HostTensor => ({ name, dtype: t.dtype, shape: t.shape, data: t.data });
  const add = (name: string, sourceName: string, shape: number[], load: () => Promise<HostTensor>): void => {
    const byteLength = shape.reduce((a, b) => a * b, 1) * 4;
    tensors.set(name, { name, sourceName, dtype: 'f32', shape, byteLength, load: async () => rename(await load(), name) });
  };
  const { dim, nLayers, vocabSize } = config;
  const qDim = config.nHeads * headDim;
  const kvDim = config.nKvHeads * headDim;
  const layerShapes: Record<string, number[]> = {
    rms_att_weight: [dim],
    wq: [qDim, dim],
    wk: [kvDim, dim],
    wv: [kvDim, dim],
    wo: [dim, qDim],
    rms_ffn_weight: [dim],
    w1: [config.ffnDim, dim],
    w2: [dim, config.ffnDim],
    w3: [config.ffnDim, dim],
  };
  add('token_embd.weight', 'token_embedding_table', [vocabSize, dim], () => ckpt.readTensor('token_embedding_table'));
  add('output_norm.weight', 'rms_final_weight', [dim], () => ckpt.readTensor('rms_final_weight'));
  if (!config.tiedEmbeddings) add('output.weight', 'wcls', [vocabSize, dim], () => ckpt.readTensor('wcls'));
  for (let i = 0; i < nLayers; i++) {
    for (const [src, dst] of Object.entries(LLAMA2C_LAYER_TENSORS)) {
      add(`blk.${i}.${dst}`, `${src}[${i}]`, layerShapes[src], () => ckpt.readLayerTensor(src, i));
    }
  }
  validateTensors(file, config, tensors);

  let tokenizer: Tokenizer | null = null;
  let tokenizerFiles: TokenizerFiles | undefined;
  let tokenizerPath: string | null = null;
  const tokOpt = options.tokenizer ?? null;
  const tokSource = typeof tokOpt === 'function' ? await tokOpt(vocabSize) : tokOpt;
  if (tokSource) {
    try {
      tokenizerPath = tokSource.name;
      const tok = await readLlama2cTokenizer(tokSource, vocabSize);
      tokenizer = SentencePieceTokenizer.fromLlama2c(tok, { bosId: LLAMA2C_BOS, eosId: LLAMA2C_EOS });
      tokenizerFiles = { kind: 'llama2c', pieces: tok.pieces, scores: tok.scores, bosId: LLAMA2C_BOS, eosId: LLAMA2C_EOS };
    } finally {
      await tokSource.close?.();
    }
  }

  let weightBytes = 0;
  for (const t of tensors.values()) weightBytes += t.byteLength;
  const source: ModelSource = {
    format: 'llama2c',
    path: options.path ?? file,
    config,
    tensors,
    tokenizer,
    metadata: {
      header: { ...h },
      tokenizerPath,
      notes: tokenizer ? [] : ['no tokenizer: pass tokenizerPath (a llama2.c tokenizer.bin such as tok512.bin)'],
    },
    weightBytes,
    close: async () => {
      await checkpoint.close?.();
    },
  };
  if (tokenizerFiles) source.tokenizerFiles = tokenizerFiles;
  return source;
}
