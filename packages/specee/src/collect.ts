/**
 * Teacher-forced traces of the target at full depth, one chunk (≤ 256
 * tokens) at a time through the backend contract: for every layer i a
 * program runs that layer (the engine's `layerSegments`; layer 0 starts with
 * `embedOps`) and then the final RMSNorm and the LM head on its output, and
 * reads back the residual stream x and the logits of every row. The logits
 * are reduced at once to (argmax, log-probability of the next text token);
 * x is kept until the chunk's last layer has run, because an EAGLE drafter
 * needs the final-layer feature of the previous position. The draft tokens'
 * logits are then k dot products per (row, layer) on the host with rows of
 * the LM head. Memory: one chunk's x for all layers (chunk × dim × layers
 * f32) and the host copy of the LM head.
 */
import type { Backend, CompiledProgram, DeviceWeight, Op } from '@bitexit/backend';
import { createBuffers, embedOps, layerSegments, ropeInvFreq, uploadModelWeights, type ModelBuffers, type ModelSource } from '@bitexit/engine';
import { BitexitError, decodeToF32 } from '@bitexit/format';
import type { Drafter } from './drafters/types.js';
import { ModelDrafter } from './drafters/model.js';
import { SpeceeOptionError } from './errors.js';
import { dotRow, rmsNormRow, rowStats } from './math.js';
import { exitFeatures, type ExitSamples } from './predictor.js';

export const MAX_CHUNK = 256;

/** Per-row, per-layer data of a teacher-forced pass. Row r predicts the text token `target[r]`. */
export interface Trace {
  nLayers: number;
  k: number;
  vocabSize: number;
  dim: number;
  rows: number;
  /** The text token each row predicts. */
  target: Int32Array;
  /** [rows, k] draft ids in rank order, −1 where the drafter gave fewer than k. */
  drafts: Int32Array;
  /** [rows, layers, k] logits of the draft tokens from h = outputNorm(x after layer i). */
  draftLogits: Float32Array;
  /** [rows, layers] argmax of the full LM head at layer i. */
  argmax: Int32Array;
  /** [rows, layers] log-softmax of the full LM head at layer i, at the target token. */
  logprob: Float32Array;
  /** [rows] 1 on the first row of each chunk. */
  chunkStart: Uint8Array;
}

export interface CollectOptions {
  k?: number;
  onProgress?: (doneTokens: number, totalTokens: number) => void;
  signal?: AbortSignal;
}

/**
 * Cuts token ids into chunks of `chunk` tokens (≤ 256), each starting with
 * BOS when the model has one (the first text token after it is the chunk's
 * first predicted token), `maxTokens` tokens in all.
 */
export function chunkTokens(ids: readonly number[], chunk: number, maxTokens: number, bos: number | null): number[][] {
  if (!Number.isInteger(chunk) || chunk < 2 || chunk > MAX_CHUNK) throw new SpeceeOptionError(`chunk length must be 2..${MAX_CHUNK}, got ${chunk}`);
  const body = bos !== null ? chunk - 1 : chunk;
  const out: number[][] = [];
  let used = 0;
  for (let s = 0; s < ids.length && used < maxTokens; s += body) {
    const piece = ids.slice(s, Math.min(s + body, s + maxTokens - used));
    if (piece.length < 1 || (bos === null && piece.length < 2)) break;
    out.push(bos !== null ? [bos, ...piece] : piece);
    used += piece.length;
  }
  return out;
}

/** Uploads the target's weights and compiles one program per layer. */
class LayerPrograms {
  private constructor(
    readonly backend: Backend,
    readonly buf: ModelBuffers,
    readonly programs: CompiledProgram[],
    readonly uploaded: DeviceWeight[],
  ) {}

  static async create(source: ModelSource, backend: Backend, rows: number): Promise<LayerPrograms> {
    const c = source.config;
    const programs: CompiledProgram[] = [];
    const { weights: w, uploaded } = await uploadModelWeights(source, backend);
    const buf = createBuffers(backend, c, rows, rows);
    try {
      const invFreq = ropeInvFreq(c);
      for (let i = 0; i < c.nLayers; i++) {
        const ops: Op[] = [
          ...(i === 0 ? embedOps(w, buf) : []),
          ...layerSegments(c, w.layers[i]!, i, buf, invFreq).flatMap((s) => s.ops),
          { kind: 'rmsnorm', x: buf.x, weight: w.outputNorm, eps: c.rmsEps, out: buf.xb },
          { kind: 'matmul', x: buf.xb, weight: w.output, out: buf.allLogits },
        ];
        programs.push(
          backend.compile({
            label: `specee-layer-${i}`,
            maxRows: rows,
            ops,
            outputs: [
              { buffer: buf.x, rows: 'active' },
              { buffer: buf.allLogits, rows: 'active' },
            ],
          }),
        );
      }
      return new LayerPrograms(backend, buf, programs, uploaded);
    } catch (e) {
      new LayerPrograms(backend, buf, programs, uploaded).dispose();
      throw e;
    }
  }

  dispose(): void {
    const be = this.backend;
    for (const p of this.programs) be.release(p);
    for (const b of Object.values(this.buf)) {
      if (Array.isArray(b)) b.forEach((x) => be.release(x));
      else if (typeof b === 'object') be.release(b);
    }
    for (const w of this.uploaded) be.release(w);
  }
}

/**
 * Runs the target at full depth, teacher-forced, over each chunk of
 * `sequences` (each ≤ 256 tokens; the drafter is reset per chunk) and
 * records, for every predicted token and layer, the draft tokens' logits,
 * the full-LM-head argmax and the log-probability of the text token.
 */
export async function collectTraces(source: ModelSource, backend: Backend, sequences: readonly (readonly number[])[], drafter: Drafter, options: CollectOptions = {}): Promise<Trace> {
  const c = source.config;
  const k = options.k ?? 4;
  if (!Number.isInteger(k) || k < 1) throw new SpeceeOptionError(`k must be a positive integer, got ${k}`);
  const L = c.nLayers;
  const V = c.vocabSize;
  const dim = c.dim;
  const maxLen = Math.max(2, ...sequences.map((s) => s.length));
  if (maxLen > MAX_CHUNK) throw new SpeceeOptionError(`sequences must be at most ${MAX_CHUNK} tokens, got ${maxLen}`);
  for (const s of sequences) for (const id of s) if (!Number.isInteger(id) || id < 0 || id >= V) throw new SpeceeOptionError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
  const totalRows = sequences.reduce((a, s) => a + Math.max(0, s.length - 1), 0);
  const trace: Trace = {
    nLayers: L,
    k,
    vocabSize: V,
    dim,
    rows: totalRows,
    target: new Int32Array(totalRows),
    drafts: new Int32Array(totalRows * k).fill(-1),
    draftLogits: new Float32Array(totalRows * L * k).fill(NaN),
    argmax: new Int32Array(totalRows * L),
    logprob: new Float32Array(totalRows * L),
    chunkStart: new Uint8Array(totalRows),
  };
  const normEntry = source.tensors.get('output_norm.weight');
  if (!normEntry) throw new BitexitError('E_MODEL_FORMAT', `${source.path}: missing tensor 'output_norm.weight'`);
  const outNorm = decodeToF32(await normEntry.load());
  const headEntry = c.tiedEmbeddings || !source.tensors.has('output.weight') ? source.tensors.get('token_embd.weight') : source.tensors.get('output.weight');
  if (!headEntry) throw new BitexitError('E_MODEL_FORMAT', `${source.path}: missing the LM head`);
  const lmHead = decodeToF32(await headEntry.load());
  const lp = await LayerPrograms.create(source, backend, maxLen);
  try {
    let row0 = 0;
    let done = 0;
    for (const ids of sequences) {
      if (options.signal?.aborted) throw new BitexitError('E_ABORTED', 'trace collection aborted');
      const n = ids.length;
      const rows = n - 1;
      if (rows <= 0) continue;
      const xs: Float32Array[] = [];
      for (let i = 0; i < L; i++) {
        const inputs = i === 0 ? [{ buffer: lp.buf.ids, data: Int32Array.from(ids) }] : [];
        const [x, logits] = (await backend.run(lp.programs[i]!, { pos: 0, n, inputs })) as Float32Array[];
        xs.push(Float32Array.from(x!.subarray(0, n * dim)));
        for (let t = 0; t < rows; t++) {
          const { argmax, lse } = rowStats(logits!, t, V);
          trace.argmax[(row0 + t) * L + i] = argmax;
          trace.logprob[(row0 + t) * L + i] = logits![t * V + ids[t + 1]!]! - lse;
        }
      }
      // Drafts: entry t is the proposal for ids[t+1] from ids[0..t] (and the final feature of t−1).
      drafter.reset?.();
      let drafts: number[][];
      if (drafter instanceof ModelDrafter) {
        drafts = (await drafter.proposeAll(ids.slice(0, rows), k)).slice(0, rows);
      } else {
        drafts = [];
        const last = xs[L - 1]!;
        for (let t = 0; t < rows; t++) {
          const feature = drafter.needsFeature && t >= 1 ? rmsNormRow(last, (t - 1) * dim, dim, outNorm, c.rmsEps) : undefined;
          drafts.push(await drafter.propose(ids.slice(0, t + 1), k, feature));
        }
      }
      const h = new Float32Array(dim);
      for (let t = 0; t < rows; t++) {
        const r = row0 + t;
        trace.target[r] = ids[t + 1]!;
        trace.chunkStart[r] = t === 0 ? 1 : 0;
        const d = drafts[t] ?? [];
        for (let j = 0; j < Math.min(k, d.length); j++) trace.drafts[r * k + j] = d[j]!;
        if (d.length < k) continue;
        for (let i = 0; i < L; i++) {
          rmsNormRow(xs[i]!, t * dim, dim, outNorm, c.rmsEps, h);
          for (let j = 0; j < k; j++) trace.draftLogits[(r * L + i) * k + j] = dotRow(lmHead, d[j]!, dim, h);
        }
      }
      row0 += rows;
      done += n;
      options.onProgress?.(done, sequences.reduce((a, s) => a + s.length, 0));
    }
  } finally {
    lp.dispose();
  }
  return trace;
}

/** Whether row r has k draft tokens (SpecEE can only exit on such tokens). */
export function hasDrafts(trace: Trace, r: number): boolean {
  return trace.drafts[r * trace.k + trace.k - 1]! >= 0;
}

/**
 * Training samples of layer `layer` (every layer evaluated: the softmax
 * change is relative to layer−1): label = (argmax at the layer == argmax at
 * the last layer). Rows without k drafts are left out; with
 * 'argmax-in-drafts' also the rows where the layer's argmax is not a draft
 * (SpecEE never exits there, whatever the predictor says).
 */
export function layerSamples(trace: Trace, layer: number, rowsFilter: 'all' | 'argmax-in-drafts' = 'all'): ExitSamples {
  const { k, nLayers: L } = trace;
  const rows: number[] = [];
  for (let r = 0; r < trace.rows; r++) {
    if (!hasDrafts(trace, r)) continue;
    if (rowsFilter === 'argmax-in-drafts' && !trace.drafts.subarray(r * k, r * k + k).includes(trace.argmax[r * L + layer]!)) continue;
    rows.push(r);
  }
  const x = new Float32Array(rows.length * 3 * k);
  const y = new Uint8Array(rows.length);
  rows.forEach((r, s) => {
    let prev: number[] | null = null;
    for (let i = 0; i <= layer; i++) {
      const { features, probs } = exitFeatures(trace.draftLogits.subarray((r * L + i) * k, (r * L + i + 1) * k), prev);
      prev = probs;
      if (i === layer) x.set(features, s * 3 * k);
    }
    y[s] = trace.argmax[r * L + layer] === trace.argmax[r * L + L - 1] ? 1 : 0;
  });
  return { x, y, n: rows.length, inputs: 3 * k };
}
