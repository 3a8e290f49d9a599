import type { Backend } from '@bitexit/backend';
import type { ModelConfig, ModelFileFormat } from './model/types.js';
import type { LoadConversion } from './model/conversion.js';

/** Load progress: one 'open', one 'upload' per tensor (after it is uploaded), one 'compile', one 'ready'. */
export interface LoadProgress {
  phase: 'open' | 'upload' | 'compile' | 'ready';
  /** Weight bytes uploaded so far / in total. */
  loadedBytes: number;
  totalBytes: number;
  /** Tensor just uploaded, when phase is 'upload'. */
  tensor?: string;
}

export interface LoadModelOptions {
  /** Backend name ('auto' | 'cpu' | 'webgpu' | 'cuda') or an already created backend. Default 'auto'. */
  backend?: string | Backend;
  onProgress?: (progress: LoadProgress) => void;
  /** KV-cache length; default min(model's trained context, 2048). */
  contextLength?: number;
  /** Tokenizer file for formats that do not carry one (llama2.c checkpoints). */
  tokenizerPath?: string;
  /** Tokens per prefill step (rows of the prefill program). Default 128. */
  prefillChunk?: number;
}

export interface SamplingOptions {
  /** 0 = greedy. Default 0.8. */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  /** How many recent tokens the repetition penalty looks at. Default 64. */
  repetitionLastN?: number;
  /** Seed for deterministic sampling. Default: random. */
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** Most new tokens. Default: min(256, context length − prompt tokens), so a default run never ends with 'context'. */
  maxTokens?: number;
  /** Generation stops before any of these strings; the string itself is not emitted. */
  stop?: string[];
  signal?: AbortSignal;
  /** Prepend BOS to a text prompt (default true when the model has one). */
  addBos?: boolean;
  /** Decode with SpecEE early exit when the model has it enabled (`enableEarlyExit`). Default true. */
  earlyExit?: boolean;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatOptions extends GenerateOptions {
  /** Jinja chat template to use instead of the model's own (required when the model carries none). */
  chatTemplate?: string;
}

export interface GenerationChunk {
  /** The generated token id. */
  token: number;
  /** Text completed by this token (may be '' while a UTF-8 sequence or a possible stop string is pending). */
  text: string;
}

/** 'context': the KV cache is full. */
export type FinishReason = 'eos' | 'stop' | 'length' | 'abort' | 'context';

export interface GenerationStats {
  promptTokens: number;
  /**
   * Prompt tokens whose K/V were already in the cache from the previous call (prefix reuse): only
   * `promptTokens - cachedPromptTokens` tokens were prefilled.
   */
  cachedPromptTokens: number;
  generatedTokens: number;
  /** Milliseconds from the call to the first generated token. */
  timeToFirstTokenMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  totalMs: number;
  finishReason: FinishReason;
  backend: string;
  /** Present when the decode ran with early exit (the first token, from the prefill, is not counted). */
  earlyExit?: EarlyExitStats;
}

export interface EarlyExitStats {
  /** Decode steps measured. */
  steps: number;
  /** Mean decoder layers computed per token, and as a fraction of the model's depth. */
  layersPerToken: number;
  layersFraction: number;
  /** histogram[i] = tokens whose last computed layer was i (the last entry counts full-depth tokens). */
  histogram: number[];
  /** Host time spent in the drafter, ms. */
  draftMs: number;
}

export interface GenerationResult {
  text: string;
  promptTokens: number[];
  tokens: number[];
  stats: GenerationStats;
}

/** Streaming generation: iterate for chunks, then await `result` for the whole text and stats. */
export interface Generation extends AsyncIterable<GenerationChunk> {
  readonly result: Promise<GenerationResult>;
}

export interface PerplexityOptions {
  /** Chunk length (llama-perplexity -c). Default 512, capped to the context length. */
  ctx?: number;
  /** Stop after this many chunks (default: all). */
  maxChunks?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  ppl: number;
  /** Mean negative log-likelihood per scored token (natural log). */
  nll: number;
  /** Tokens scored (the second half of every chunk); `tokens_scored` in the CLI's JSON. */
  tokensScored: number;
  chunks: number;
  ctx: number;
}

export interface ModelInfo {
  format: ModelFileFormat;
  path: string;
  config: ModelConfig;
  /** Bytes of all weights as stored in the file. */
  weightBytes: number;
  parameterCount: number;
  /** Average storage bits per weight over all tensors. */
  bitsPerWeight: number;
  backend: string;
  contextLength: number;
  /**
   * Tensors the file stores in a type backends do not run (GGUF Q4_0 ... Q6_K)
   * and that loading converted (to Q8_0 matrices, f32 vectors: LOAD_CONVERSION),
   * with the memory they take once converted; null when everything ran as stored.
   */
  conversion: LoadConversion | null;
}
