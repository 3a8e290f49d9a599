import type { GgufFile, HostTensor, WeightDType } from '@bitexit/format';
import type { RopeStyle } from '@bitexit/backend';
import type { Tokenizer } from '@bitexit/tokenizer';

/** Architectures bitexit runs (all Llama-family decoders). */
export type Architecture = 'llama' | 'mistral' | 'qwen2';
export const SUPPORTED_ARCHITECTURES: readonly Architecture[] = ['llama', 'mistral', 'qwen2'];

export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContextLength: number }
  | { type: 'linear'; factor: number };

/** Hyperparameters of a Llama-family decoder, normalised from any file format. */
export interface ModelConfig {
  architecture: Architecture;
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  vocabSize: number;
  /** Context length the model was trained for. */
  contextLength: number;
  rmsEps: number;
  ropeTheta: number;
  /** Dims of each head that rotate (usually headDim). */
  ropeDim: number;
  ropeStyle: RopeStyle;
  ropeScaling: RopeScaling | null;
  /** Qwen2: q/k/v projections carry biases. */
  qkvBias: boolean;
  /** The LM head reuses the token embedding. */
  tiedEmbeddings: boolean;
}

/**
 * One weight, in canonical (GGUF-style) naming:
 * token_embd.weight, output_norm.weight, output.weight (absent when tied),
 * blk.{i}.attn_norm.weight, blk.{i}.attn_{q,k,v}.weight / .bias, blk.{i}.attn_output.weight,
 * blk.{i}.ffn_norm.weight, blk.{i}.ffn_{gate,up,down}.weight.
 * Shapes are [out, in]. `load` reads only this tensor's byte range.
 */
export interface TensorEntry {
  name: string;
  /** Name inside the source file (for inspect and error messages). */
  sourceName: string;
  /** Storage type `load()` returns (a type backends run). */
  dtype: WeightDType;
  shape: number[];
  /** Bytes as stored in the file. */
  byteLength: number;
  /**
   * Set when the file stores this tensor in a type backends do not run
   * (a GGUF Q4_K, IQ2_XXS, ...): its ggml type name, and whether bitexit
   * decodes it. Decodable tensors are converted by `load()` to `dtype`
   * (LOAD_CONVERSION, declared once) and `loadF32()` gives their exact values;
   * for the others `load()` throws UnsupportedTensorTypeError.
   */
  stored?: { type: string; decodable: boolean; /** The type id is unknown to this build: its size cannot be computed (byteLength 0). */ unknownSize?: true };
  load(): Promise<HostTensor>;
  /** Exact f32 values of a `stored` tensor (no conversion loss), for quantizers and converters. */
  loadF32?(): Promise<Float32Array>;
}

export type ModelFileFormat = 'gguf' | 'llama2c' | 'huggingface';

/** An opened model: parsed headers and config, lazily readable tensors, tokenizer. */
export interface ModelSource {
  format: ModelFileFormat;
  /** Path or name of the model (file or directory). */
  path: string;
  config: ModelConfig;
  tensors: Map<string, TensorEntry>;
  tokenizer: Tokenizer | null;
  /** Format-specific metadata for `inspect` (GGUF KVs, HF config, llama2.c header). */
  metadata: Record<string, unknown>;
  /** Total bytes of all weights as stored. */
  weightBytes: number;
  /** The tokenizer as stored in the source files, for converters (absent when there is none). */
  tokenizerFiles?: TokenizerFiles;
  close(): Promise<void>;
}

/** Raw tokenizer data of a ModelSource, kept so convertToGguf can re-emit it faithfully. */
export type TokenizerFiles =
  /** tokenizer.json verbatim and tokenizer_config.json parsed. */
  | { kind: 'huggingface'; tokenizerJson: string; tokenizerConfig: Record<string, unknown> | null }
  /** llama2.c tokenizer.bin pieces (raw bytes, '▁' written as ' ') and scores. */
  | { kind: 'llama2c'; pieces: Uint8Array[]; scores: Float32Array; bosId: number; eosId: number }
  /** A GGUF file whose tokenizer.* keys are copied as they are. */
  | { kind: 'gguf'; gguf: GgufFile };
