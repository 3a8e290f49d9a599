/**
 * The forward-pass program IR. The engine describes a whole step (one decode
 * token, or a prefill chunk) as an ordered list of ops over device buffers and
 * weights, hands it to the backend once with `compile`, then replays it with
 * `run` for every step, changing only runtime scalars (position, active rows,
 * sampling parameters) and small inputs (token ids). A GPU backend records the
 * program once and submits it as one unit with one small readback; the CPU
 * backend interprets it. This is ggml's "graph handed to the backend in one
 * call" idea, kept linear because a decoder-only forward pass is a chain.
 *
 * Conventions:
 * - Activation buffers are 2-D [maxRows, cols], row-major f32 (or i32). A run
 *   with `n` active rows touches rows 0..n-1 only.
 * - Row t of a step sits at absolute sequence position `pos + t`.
 * - Row-wise ops (rmsnorm, matmul, silu_mul, add) may carry `rows`: a fixed
 *   row count that replaces the run's n (e.g. 1 for the LM head after
 *   `last_row`, so a prefill chunk computes one row of logits, not n).
 * - Weights are [out, in] (PyTorch order): matmul computes out[t] = W · x[t] (+ bias).
 */
import type { DeviceBuffer, DeviceWeight } from './resources.js';

export type RopeStyle =
  /** Rotate adjacent pairs (x[2i], x[2i+1]): llama2.c, GGUF `llama` (weights stored permuted). */
  | 'adjacent'
  /** Rotate halves (x[i], x[i + d/2]): Hugging Face Llama/Mistral/Qwen2, GGUF `qwen2` (NeoX). */
  | 'half';

export type Op =
  /** out[t] = table[ids[t]] (table [vocab, dim], any weight dtype). */
  | { kind: 'embed'; table: DeviceWeight; ids: DeviceBuffer; out: DeviceBuffer }
  /** out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight. */
  | { kind: 'rmsnorm'; x: DeviceBuffer; weight: DeviceWeight; eps: number; out: DeviceBuffer; rows?: number }
  /** out[t] = weight · x[t] (+ bias), weight [N, K], x [rows, K], out [rows, N]. */
  | { kind: 'matmul'; x: DeviceBuffer; weight: DeviceWeight; bias?: DeviceWeight; out: DeviceBuffer; rows?: number }
  /**
   * In-place rotary embedding of x [rows, heads*headDim]: the first `ropeDim`
   * dims of each head rotate by angle (pos + t) * invFreq[i] for pair i
   * (invFreq has ropeDim/2 entries, already including any rope scaling).
   */
  | { kind: 'rope'; x: DeviceBuffer; heads: number; headDim: number; ropeDim: number; style: RopeStyle; invFreq: Float32Array }
  /** kCache[pos + t] = k[t], vCache[pos + t] = v[t] for t < n. Caches are [contextLength, kvDim]. */
  | { kind: 'kv_store'; k: DeviceBuffer; v: DeviceBuffer; kCache: DeviceBuffer; vCache: DeviceBuffer }
  /**
   * Causal attention with grouped-query heads: query row t (position pos+t)
   * attends to cache rows 0..pos+t. q/out [rows, heads*headDim]; query head h
   * reads kv head floor(h * kvHeads / heads).
   */
  | {
      kind: 'attention';
      q: DeviceBuffer;
      kCache: DeviceBuffer;
      vCache: DeviceBuffer;
      out: DeviceBuffer;
      heads: number;
      kvHeads: number;
      headDim: number;
      scale: number;
    }
  /** out = silu(gate) * up, elementwise. */
  | { kind: 'silu_mul'; gate: DeviceBuffer; up: DeviceBuffer; out: DeviceBuffer; rows?: number }
  /** out = a + b, elementwise (out may alias a). */
  | { kind: 'add'; a: DeviceBuffer; b: DeviceBuffer; out: DeviceBuffer; rows?: number }
  /** out[0] = x[n-1]: keeps only the last active row (logits of a prefill chunk). */
  | { kind: 'last_row'; x: DeviceBuffer; out: DeviceBuffer }
  /** out[0] = index of the largest value of x[0] (lowest index on ties), as i32. */
  | { kind: 'argmax'; x: DeviceBuffer; out: DeviceBuffer }
  /**
   * out[0] = a token sampled from logits[0] with the run's SamplingParams.
   * Deterministic for a given uniform. Exactly (NaN logits count as -Infinity):
   * 1. repetitionPenalty != 1: for each DISTINCT id among
   *    history[0..historyLength) (flat index; ids outside the vocabulary are
   *    ignored): logit = logit > 0 ? logit / penalty : logit * penalty.
   * 2. temperature <= 0: argmax (lowest index on ties). Done.
   * 3. logits / temperature; candidates sorted by logit descending (ties:
   *    lower index first); topK > 0 keeps the first topK; softmax over the
   *    kept candidates; topP < 1 keeps the smallest prefix whose cumulative
   *    probability >= topP (at least one); minP > 0 keeps the candidates with
   *    p >= minP * pmax (at least one); renormalise; return the first
   *    candidate whose cumulative probability > uniform (the last kept
   *    candidate when rounding leaves none).
   */
  | { kind: 'sample'; logits: DeviceBuffer; history: DeviceBuffer; out: DeviceBuffer };

export type OpKind = Op['kind'];

export const OP_KINDS: readonly OpKind[] = [
  'embed',
  'rmsnorm',
  'matmul',
  'rope',
  'kv_store',
  'attention',
  'silu_mul',
  'add',
  'last_row',
  'argmax',
  'sample',
];

/** A buffer read back to the host after a run. */
export interface ProgramOutput {
  buffer: DeviceBuffer;
  /** 'active': the first n rows of the run; a number: that many rows. */
  rows: 'active' | number;
}

export interface Program {
  label: string;
  /** Largest `n` a run may use; every activation buffer has at least this many rows. */
  maxRows: number;
  ops: Op[];
  outputs: ProgramOutput[];
}

export interface SamplingParams {
  /** 0 means greedy. */
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  /** 0 disables. */
  minP: number;
  /** 1 disables; applied (llama.cpp style) to tokens among the first `historyLength` ids of the history buffer. */
  repetitionPenalty: number;
  historyLength: number;
  /** Uniform number in [0, 1) drawn by the engine's seeded generator for this step. */
  uniform: number;
}

export interface HostInput {
  buffer: DeviceBuffer;
  data: Float32Array | Int32Array;
}

export interface RunParams {
  /** Absolute position of row 0. */
  pos: number;
  /** Active rows, 1..program.maxRows. */
  n: number;
  /** Small host data uploaded before the step (token ids, sampling history). */
  inputs?: HostInput[];
  sampling?: SamplingParams;
}

export type ReadbackData = Float32Array | Int32Array;
