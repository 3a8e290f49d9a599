import type { Backend, CompiledProgram, DeviceBuffer, DeviceWeight, Op, Program } from '@bitexit/backend';
import { BitexitError } from '@bitexit/format';
import type { ModelConfig, ModelSource, TensorEntry } from '../model/types.js';
import { ropeInvFreq } from './rope.js';

export interface LayerWeights {
  attnNorm: DeviceWeight;
  wq: DeviceWeight;
  wk: DeviceWeight;
  wv: DeviceWeight;
  wo: DeviceWeight;
  bq?: DeviceWeight;
  bk?: DeviceWeight;
  bv?: DeviceWeight;
  ffnNorm: DeviceWeight;
  wGate: DeviceWeight;
  wUp: DeviceWeight;
  wDown: DeviceWeight;
}

export interface ModelWeights {
  tokenEmbedding: DeviceWeight;
  layers: LayerWeights[];
  outputNorm: DeviceWeight;
  /** The LM head: `output.weight`, or the token embedding when tied. */
  output: DeviceWeight;
}

/**
 * Uploads every weight a forward pass reads, in canonical order, reporting
 * each tensor. On failure the weights uploaded so far are released. Returns
 * the weights and the list of uploads (the tied LM head is not uploaded twice).
 */
export async function uploadModelWeights(
  source: ModelSource,
  backend: Backend,
  /** Called once per tensor, after it is uploaded. */
  onTensor?: (entry: TensorEntry) => void,
): Promise<{ weights: ModelWeights; uploaded: DeviceWeight[] }> {
  const c = source.config;
  const uploaded: DeviceWeight[] = [];
  const get = async (name: string): Promise<DeviceWeight> => {
    const entry = source.tensors.get(name);
    if (!entry) throw new BitexitError('E_MODEL_FORMAT', `${source.path}: missing tensor '${name}'`);
    const w = await backend.uploadWeight(await entry.load());
    uploaded.push(w);
    onTensor?.(entry);
    return w;
  };
  const opt = async (name: string) => (source.tensors.has(name) ? get(name) : undefined);
  try {
    const tokenEmbedding = await get('token_embd.weight');
    const layers: LayerWeights[] = [];
    for (let i = 0; i < c.nLayers; i++) {
      const p = `blk.${i}.`;
      layers.push({
        attnNorm: await get(`${p}attn_norm.weight`),
        wq: await get(`${p}attn_q.weight`),
        wk: await get(`${p}attn_k.weight`),
        wv: await get(`${p}attn_v.weight`),
        bq: await opt(`${p}attn_q.bias`),
        bk: await opt(`${p}attn_k.bias`),
        bv: await opt(`${p}attn_v.bias`),
        wo: await get(`${p}attn_output.weight`),
        ffnNorm: await get(`${p}ffn_norm.weight`),
        wGate: await get(`${p}ffn_gate.weight`),
        wUp: await get(`${p}ffn_up.weight`),
        wDown: await get(`${p}ffn_down.weight`),
      });
    }
    const outputNorm = await get('output_norm.weight');
    const output = c.tiedEmbeddings || !source.tensors.has('output.weight') ? tokenEmbedding : await get('output.weight');
    return { weights: { tokenEmbedding, layers, outputNorm, output }, uploaded };
  } catch (e) {
    for (const w of uploaded) backend.release(w);
    throw e;
  }
}

/** Device buffers shared by every program of one loaded model. */
export interface ModelBuffers {
  rows: number;
  ids: DeviceBuffer;
  x: DeviceBuffer;
  xb: DeviceBuffer;
  q: DeviceBuffer;
  k: DeviceBuffer;
  v: DeviceBuffer;
  att: DeviceBuffer;
  proj: DeviceBuffer;
  gate: DeviceBuffer;
  up: DeviceBuffer;
  hidden: DeviceBuffer;
  last: DeviceBuffer;
  lastNorm: DeviceBuffer;
  logits: DeviceBuffer;
  /** Logits of every row (scoring / perplexity). */
  allLogits: DeviceBuffer;
  history: DeviceBuffer;
  token: DeviceBuffer;
  kCache: DeviceBuffer[];
  vCache: DeviceBuffer[];
}

/** Longest sampling history the repetition penalty can look at. */
export const MAX_HISTORY = 1024;

export function createBuffers(backend: Backend, c: ModelConfig, rows: number, contextLength: number): ModelBuffers {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const b = (dtype: 'f32' | 'i32', r: number, cols: number, label: string) => backend.createBuffer(dtype, [r, cols], label);
  return {
    rows,
    ids: b('i32', rows, 1, 'ids'),
    x: b('f32', rows, c.dim, 'x'),
    xb: b('f32', rows, c.dim, 'xb'),
    q: b('f32', rows, qDim, 'q'),
    k: b('f32', rows, kvDim, 'k'),
    v: b('f32', rows, kvDim, 'v'),
    att: b('f32', rows, qDim, 'att'),
    proj: b('f32', rows, c.dim, 'proj'),
    gate: b('f32', rows, c.ffnDim, 'gate'),
    up: b('f32', rows, c.ffnDim, 'up'),
    hidden: b('f32', rows, c.ffnDim, 'hidden'),
    last: b('f32', 1, c.dim, 'last'),
    lastNorm: b('f32', 1, c.dim, 'last_norm'),
    logits: b('f32', 1, c.vocabSize, 'logits'),
    allLogits: b('f32', rows, c.vocabSize, 'all_logits'),
    history: b('i32', MAX_HISTORY, 1, 'history'),
    token: b('i32', 1, 1, 'token'),
    kCache: Array.from({ length: c.nLayers }, (_, i) => b('f32', contextLength, kvDim, `k_cache.${i}`)),
    vCache: Array.from({ length: c.nLayers }, (_, i) => b('f32', contextLength, kvDim, `v_cache.${i}`)),
  };
}

/**
 * One decoder layer as named segments. Each segment that ends where a linear
 * layer reads its input names that buffer in `input`, so calibration (the
 * quantizer) can read the activations feeding each matrix, segment by segment.
 */
export interface LayerSegment {
  name: 'attn_norm' | 'attention' | 'attn_out' | 'ffn_norm' | 'ffn_act' | 'ffn_out';
  ops: Op[];
  /** After this segment, the buffer holding the input of the listed weights. */
  input?: { buffer: DeviceBuffer; feeds: ('attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_gate' | 'ffn_up' | 'ffn_down')[] };
}

/** The SpecEE `mask` KV policy: attention leaves out earlier positions that exited before the layer. */
export interface ExitMask {
  /** i32 [contextLength, 1]: the last layer computed at each position (written by `exit_record`). */
  exitLayers: DeviceBuffer;
}

export function layerSegments(
  c: ModelConfig,
  l: LayerWeights,
  i: number,
  buf: ModelBuffers,
  invFreq = ropeInvFreq(c),
  mask?: ExitMask,
): LayerSegment[] {
  return [
    {
      name: 'attn_norm',
      ops: [{ kind: 'rmsnorm', x: buf.x, weight: l.attnNorm, eps: c.rmsEps, out: buf.xb }],
      input: { buffer: buf.xb, feeds: ['attn_q', 'attn_k', 'attn_v'] },
    },
    {
      name: 'attention',
      ops: [
        { kind: 'matmul', x: buf.xb, weight: l.wq, bias: l.bq, out: buf.q },
        { kind: 'matmul', x: buf.xb, weight: l.wk, bias: l.bk, out: buf.k },
        { kind: 'matmul', x: buf.xb, weight: l.wv, bias: l.bv, out: buf.v },
        { kind: 'rope', x: buf.q, heads: c.nHeads, headDim: c.headDim, ropeDim: c.ropeDim, style: c.ropeStyle, invFreq },
        { kind: 'rope', x: buf.k, heads: c.nKvHeads, headDim: c.headDim, ropeDim: c.ropeDim, style: c.ropeStyle, invFreq },
        { kind: 'kv_store', k: buf.k, v: buf.v, kCache: buf.kCache[i]!, vCache: buf.vCache[i]! },
        {
          kind: 'attention',
          q: buf.q,
          kCache: buf.kCache[i]!,
          vCache: buf.vCache[i]!,
          out: buf.att,
          heads: c.nHeads,
          kvHeads: c.nKvHeads,
          headDim: c.headDim,
          scale: 1 / Math.sqrt(c.headDim),
          ...(mask ? { exitLayers: mask.exitLayers, layer: i } : {}),
        },
      ],
      input: { buffer: buf.att, feeds: ['attn_output'] },
    },
    {
      name: 'attn_out',
      ops: [
        { kind: 'matmul', x: buf.att, weight: l.wo, out: buf.proj },
        { kind: 'add', a: buf.x, b: buf.proj, out: buf.x },
      ],
    },
    {
      name: 'ffn_norm',
      ops: [{ kind: 'rmsnorm', x: buf.x, weight: l.ffnNorm, eps: c.rmsEps, out: buf.xb }],
      input: { buffer: buf.xb, feeds: ['ffn_gate', 'ffn_up'] },
    },
    {
      name: 'ffn_act',
      ops: [
        { kind: 'matmul', x: buf.xb, weight: l.wGate, out: buf.gate },
        { kind: 'matmul', x: buf.xb, weight: l.wUp, out: buf.up },
        { kind: 'silu_mul', gate: buf.gate, up: buf.up, out: buf.hidden },
      ],
      input: { buffer: buf.hidden, feeds: ['ffn_down'] },
    },
    {
      name: 'ffn_out',
      ops: [
        { kind: 'matmul', x: buf.hidden, weight: l.wDown, out: buf.proj },
        { kind: 'add', a: buf.x, b: buf.proj, out: buf.x },
      ],
    },
  ];
}

/** The embedding gather that starts every program. */
export function embedOps(w: ModelWeights, buf: ModelBuffers): Op[] {
  return [{ kind: 'embed', table: w.tokenEmbedding, ids: buf.ids, out: buf.x }];
}

/** The transformer body: embedding and every decoder layer, leaving the residual stream in `x`. */
export function bodyOps(c: ModelConfig, w: ModelWeights, buf: ModelBuffers, mask?: ExitMask): Op[] {
  const invFreq = ropeInvFreq(c);
  const ops = embedOps(w, buf);
  w.layers.forEach((l, i) => {
    for (const seg of layerSegments(c, l, i, buf, invFreq, mask)) ops.push(...seg.ops);
  });
  // Full depth: every position of this step computed the last layer.
  if (mask) ops.push({ kind: 'exit_record', exitLayers: mask.exitLayers, lastLayer: c.nLayers - 1 });
  return ops;
}

/** Final norm and LM head on the last row (logits in `buf.logits`). */
export function headOps(c: ModelConfig, w: ModelWeights, buf: ModelBuffers): Op[] {
  return [
    { kind: 'last_row', x: buf.x, out: buf.last },
    { kind: 'rmsnorm', x: buf.last, weight: w.outputNorm, eps: c.rmsEps, out: buf.lastNorm, rows: 1 },
    { kind: 'matmul', x: buf.lastNorm, weight: w.output, out: buf.logits, rows: 1 },
  ];
}

/** Final norm, LM head on the last row, then on-device sampling: one i32 read back. */
function sampleHeadOps(c: ModelConfig, w: ModelWeights, buf: ModelBuffers): Op[] {
  return [...headOps(c, w, buf), { kind: 'sample', logits: buf.logits, history: buf.history, out: buf.token }];
}

export interface ModelPrograms {
  /** One token in, one sampled token out. */
  decode: CompiledProgram;
  /** A prompt chunk that ends the prompt: its last row is sampled. */
  prefillSample: CompiledProgram;
  /** A prompt chunk followed by more prompt: fills the KV cache only, reads nothing back. */
  prefill: CompiledProgram;
  /** A chunk whose logits for every row are read back (perplexity, teacher forcing). */
  score: CompiledProgram;
  /** A chunk that ends a context: only its last row's logits are read back (draft models). */
  prefillLogits: CompiledProgram;
}

/** `mask`: compile for the SpecEE `mask` KV policy (attention masks exited positions; programs record depth). */
export function compilePrograms(backend: Backend, c: ModelConfig, w: ModelWeights, buf: ModelBuffers, mask?: ExitMask): ModelPrograms {
  const body = bodyOps(c, w, buf, mask);
  const make = (p: Program) => backend.compile(p);
  return {
    decode: make({ label: 'decode', maxRows: 1, ops: [...body, ...sampleHeadOps(c, w, buf)], outputs: [{ buffer: buf.token, rows: 1 }] }),
    prefillSample: make({
      label: 'prefill+sample',
      maxRows: buf.rows,
      ops: [...body, ...sampleHeadOps(c, w, buf)],
      outputs: [{ buffer: buf.token, rows: 1 }],
    }),
    prefill: make({ label: 'prefill', maxRows: buf.rows, ops: body, outputs: [] }),
    prefillLogits: make({ label: 'prefill+logits', maxRows: buf.rows, ops: [...body, ...headOps(c, w, buf)], outputs: [{ buffer: buf.logits, rows: 1 }] }),
    score: make({
      label: 'score',
      maxRows: buf.rows,
      ops: [
        ...body,
        { kind: 'rmsnorm', x: buf.x, weight: w.outputNorm, eps: c.rmsEps, out: buf.xb },
        { kind: 'matmul', x: buf.xb, weight: w.output, out: buf.allLogits },
      ],
      outputs: [{ buffer: buf.allLogits, rows: 'active' }],
    }),
  };
}
