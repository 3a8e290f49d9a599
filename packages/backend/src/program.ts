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
      /**
       * SpecEE `mask` KV policy: cache row p < pos is left out when
       * exitLayers[p] < layer (that position exited before this layer, so the
       * layer stored no K/V there). exitLayers is i32 [contextLength, 1],
       * written by `exit_record`. Rows of the current step are always attended.
       */
      exitLayers?: DeviceBuffer;
      layer?: number;
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
  | { kind: 'sample'; logits: DeviceBuffer; history: DeviceBuffer; out: DeviceBuffer }
  /**
   * SpecEE exit check after decoder layer `layer`, on the last active row of x
   * (the residual stream). exit is i32 [1, 2] = (token, exit layer), -1 while
   * running. A no-op when exit[1] >= 0 (already exited) or active[layer] == 0
   * (active: i32 [1, nLayers], the scheduler's layer set for this step).
   * Otherwise, with k = drafts' width (i32 [1, k], the drafter's tokens in rank order):
   *   h   = x[n-1] / sqrt(mean(x[n-1]^2) + eps) * norm          (the final RMSNorm)
   *   z_j = lmHead[drafts[j]] · h                                 (j < k)
   *   p   = softmax(z); d = p - probs[0]; probs[0] = p            (probs f32 [1, k]; zeros at the first evaluated layer)
   *   f   = [z, p, d]                                             (3k features)
   *   s   = sigmoid(down · relu(up · f + upBias) + downBias)      (up [H, 3k], upBias [H], down [1, H], downBias [1])
   *   if s > threshold: logits[0] = lmHead · h (all of it); t = argmax (lowest index on ties);
   *                     if t is one of the drafts: exit = (t, layer).
   */
  | {
      kind: 'exit_check';
      x: DeviceBuffer;
      norm: DeviceWeight;
      eps: number;
      lmHead: DeviceWeight;
      drafts: DeviceBuffer;
      probs: DeviceBuffer;
      active: DeviceBuffer;
      up: DeviceWeight;
      upBias: DeviceWeight;
      down: DeviceWeight;
      downBias: DeviceWeight;
      threshold: number;
      layer: number;
      logits: DeviceBuffer;
      exit: DeviceBuffer;
    }
  /**
   * Opens a guarded region, closed by the next `guard_end` (regions do not nest).
   * Every op inside runs only if, at the moment it would run, the exit buffer
   * (i32 [1, 2], see exit_check) says so:
   * - 'running': exit[1] < 0 (no exit yet) — the layers after an exit check;
   * - 'exited_before': 0 <= exit[1] < layer — work for a layer an exit skipped
   *   (the `propagate` KV policy).
   * GPU backends keep this on the device: skipped ops must not read their weights.
   */
  | { kind: 'guard_begin'; exit: DeviceBuffer; runIf: 'running' | 'exited_before'; layer?: number }
  | { kind: 'guard_end' }
  /**
   * exitLayers[pos + t] = the last layer computed for that position, for t < n:
   * exit[1] when an exit buffer is given and exit[1] >= 0, else lastLayer.
   * exitLayers i32 [contextLength, 1] (read by attention's `mask` policy).
   */
  | { kind: 'exit_record'; exit?: DeviceBuffer; exitLayers: DeviceBuffer; lastLayer: number };

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
  'exit_check',
  'guard_begin',
  'guard_end',
  'exit_record',
];

/** Ops that only early exit (SpecEE) needs; a backend without them still runs every full-depth program. */
export const EXIT_OP_KINDS: readonly OpKind[] = ['exit_check', 'guard_begin', 'guard_end', 'exit_record'];

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
