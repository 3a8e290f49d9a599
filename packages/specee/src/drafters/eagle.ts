import type { RopeStyle } from '@bitexit/backend';
import { ropeInvFreq, type ModelConfig, type ModelSource } from '@bitexit/engine';
import { decodeToF32, readGguf, readSafetensors, type ByteSource, type GgufFile, type HostTensor } from '@bitexit/format';
import type { Drafter } from './types.js';
import { SpeceeFileError } from '../errors.js';
import { matVec, rmsNormRow, topK } from '../math.js';

/** The weights of an EAGLE-1 draft head (one decoder layer), float32 on the host. */
export interface EagleHeadWeights {
  /** Linear(2·dim → dim) on [token embedding ; feature], [dim, 2·dim]. */
  fc: Float32Array;
  fcBias: Float32Array | null;
  /** The layer's input RMSNorm; EAGLE-1's published heads have none (layer index 0). */
  inputNorm: Float32Array | null;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  /** post_attention_layernorm / ffn_norm. */
  postNorm: Float32Array;
  wGate: Float32Array;
  wUp: Float32Array;
  wDown: Float32Array;
  ffnDim: number;
  /** Rotation convention of this head's own q/k weights. */
  ropeStyle: RopeStyle;
}

/** What the head shares with its target: embeddings, LM head and hyperparameters. */
export interface EagleTarget {
  config: ModelConfig;
  /** [vocab, dim] */
  embedding: Float32Array;
  /** [vocab, dim] (the embedding itself when tied). */
  lmHead: Float32Array;
}

/** Reads the target's embedding and LM head to the host (f32). */
export async function eagleTargetFromSource(source: ModelSource): Promise<EagleTarget> {
  const get = async (name: string) => {
    const e = source.tensors.get(name);
    if (!e) throw new SpeceeFileError(source.path, `missing tensor '${name}'`);
    return decodeToF32(await e.load());
  };
  const embedding = await get('token_embd.weight');
  const lmHead = source.config.tiedEmbeddings || !source.tensors.has('output.weight') ? embedding : await get('output.weight');
  return { config: source.config, embedding, lmHead };
}

/** Hugging Face key names of the published EAGLE-1 heads (e.g. yuhuili/EAGLE-llama2-chat-7B). */
export const EAGLE_HF_KEYS = {
  fc: 'fc.weight',
  fcBias: 'fc.bias',
  inputNorm: 'layers.0.input_layernorm.weight',
  wq: 'layers.0.self_attn.q_proj.weight',
  wk: 'layers.0.self_attn.k_proj.weight',
  wv: 'layers.0.self_attn.v_proj.weight',
  wo: 'layers.0.self_attn.o_proj.weight',
  postNorm: 'layers.0.post_attention_layernorm.weight',
  wGate: 'layers.0.mlp.gate_proj.weight',
  wUp: 'layers.0.mlp.up_proj.weight',
  wDown: 'layers.0.mlp.down_proj.weight',
} as const;

/** GGUF names of a head stored beside its target (the demo model's layout). */
export const EAGLE_GGUF_KEYS = {
  fc: 'eagle.fc.weight',
  fcBias: 'eagle.fc.bias',
  inputNorm: 'eagle.blk.0.attn_norm.weight',
  wq: 'eagle.blk.0.attn_q.weight',
  wk: 'eagle.blk.0.attn_k.weight',
  wv: 'eagle.blk.0.attn_v.weight',
  wo: 'eagle.blk.0.attn_output.weight',
  postNorm: 'eagle.blk.0.ffn_norm.weight',
  wGate: 'eagle.blk.0.ffn_gate.weight',
  wUp: 'eagle.blk.0.ffn_up.weight',
  wDown: 'eagle.blk.0.ffn_down.weight',
} as const;

type Keys = typeof EAGLE_HF_KEYS | typeof EAGLE_GGUF_KEYS;

async function buildHead(
  file: string,
  c: ModelConfig,
  keys: Keys,
  has: (name: string) => boolean,
  shapeOf: (name: string) => readonly number[],
  read: (name: string) => Promise<HostTensor>,
  ropeStyle: RopeStyle,
): Promise<EagleHeadWeights> {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const need = async (name: string, shape: readonly number[]): Promise<Float32Array> => {
    if (!has(name)) throw new SpeceeFileError(file, `EAGLE head has no tensor '${name}'`);
    const s = shapeOf(name);
    if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
      throw new SpeceeFileError(file, `EAGLE tensor '${name}' has shape [${s.join(', ')}], expected [${shape.join(', ')}] for the target (dim ${c.dim})`);
    }
    return decodeToF32(await read(name));
  };
  if (!has(keys.wGate)) throw new SpeceeFileError(file, `EAGLE head has no tensor '${keys.wGate}'`);
  const ffnDim = shapeOf(keys.wGate)[0] ?? 0;
  return {
    fc: await need(keys.fc, [c.dim, 2 * c.dim]),
    fcBias: has(keys.fcBias) ? await need(keys.fcBias, [c.dim]) : null,
    inputNorm: has(keys.inputNorm) ? await need(keys.inputNorm, [c.dim]) : null,
    wq: await need(keys.wq, [qDim, c.dim]),
    wk: await need(keys.wk, [kvDim, c.dim]),
    wv: await need(keys.wv, [kvDim, c.dim]),
    wo: await need(keys.wo, [c.dim, qDim]),
    postNorm: await need(keys.postNorm, [c.dim]),
    wGate: await need(keys.wGate, [ffnDim, c.dim]),
    wUp: await need(keys.wUp, [ffnDim, c.dim]),
    wDown: await need(keys.wDown, [c.dim, ffnDim]),
    ffnDim,
    ropeStyle,
  };
}

/**
 * Loads an EAGLE-1 head from a Hugging Face safetensors file with the
 * published key names (`fc.weight`, `fc.bias`, `layers.0.self_attn.q_proj.weight`, …;
 * no `input_layernorm` on layer 0, as in EAGLE's cnets.py). Hugging Face q/k
 * weights rotate halves, so the head uses RoPE style 'half' whatever the
 * target's file convention. `embed_tokens.weight`, when the file carries it, is
 * ignored: the head shares the target's embeddings.
 */
export async function loadEagleSafetensors(source: ByteSource, target: EagleTarget): Promise<EagleDrafter> {
  const st = await readSafetensors(source);
  const head = await buildHead(
    source.name,
    target.config,
    EAGLE_HF_KEYS,
    (n) => st.tensor(n) !== undefined,
    (n) => st.tensor(n)!.shape,
    (n) => st.readTensor(n),
    'half',
  );
  return new EagleDrafter(target, head);
}

/**
 * Loads an EAGLE-1 head stored as GGUF tensors `eagle.fc.weight`,
 * `eagle.blk.0.*` (the target's own file, or a side file). The head's q/k
 * follow the target's GGUF convention (RoPE style of the target config).
 */
export async function loadEagleGguf(gguf: GgufFile, target: EagleTarget, file = 'gguf'): Promise<EagleDrafter> {
  const layout = gguf.getString('bitexit.eagle.layout');
  if (layout !== undefined && layout !== 'eagle1') throw new SpeceeFileError(file, `EAGLE head layout '${layout}' is not supported (only 'eagle1')`);
  const feature = gguf.getString('bitexit.eagle.feature');
  if (feature !== undefined && feature !== 'output_norm') throw new SpeceeFileError(file, `EAGLE head feature '${feature}' is not supported (only 'output_norm')`);
  const order = gguf.getString('bitexit.eagle.input_order');
  if (order !== undefined && order !== 'token_embd,feature') throw new SpeceeFileError(file, `EAGLE input order '${order}' is not supported`);
  const byName = new Map(gguf.tensors.map((t) => [t.name, t]));
  const head = await buildHead(
    file,
    target.config,
    EAGLE_GGUF_KEYS,
    (n) => byName.has(n),
    (n) => byName.get(n)!.shape,
    (n) => gguf.readTensor(byName.get(n)!),
    target.config.ropeStyle,
  );
  return new EagleDrafter(target, head);
}

/** Whether a GGUF file carries an EAGLE head. */
export function hasEagleHead(gguf: GgufFile): boolean {
  return gguf.tensors.some((t) => t.name === EAGLE_GGUF_KEYS.fc);
}

export async function loadEagleGgufFile(source: ByteSource, target: EagleTarget): Promise<EagleDrafter> {
  return loadEagleGguf(await readGguf(source), target, source.name);
}

/**
 * EAGLE-1 draft head, forward on the host in float32 with float64 sums.
 * Draft position t (absolute RoPE position t) reads [embed(token[t+1]) ;
 * f[t]], where f[t] is the target's final-normed hidden state at position t;
 * its output g[t] predicts f[t+1] and, through the shared LM head (no extra
 * norm), the token at t+2. The head keeps its own KV cache of the positions
 * it has seen; `propose` keeps it in step with the context (a changed prefix
 * truncates it, a gap restarts it).
 */
export class EagleDrafter implements Drafter {
  readonly kind = 'eagle';
  readonly needsFeature = true;
  private readonly c: ModelConfig;
  private readonly invFreq: Float32Array;
  /** Cached draft positions start at `base`; tokens[j] is the token read at position base+j. */
  private base = 0;
  private tokens: number[] = [];
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  private feats: Float32Array[] = [];

  constructor(
    readonly target: EagleTarget,
    readonly head: EagleHeadWeights,
  ) {
    this.c = target.config;
    this.invFreq = ropeInvFreq(this.c);
  }

  reset(): void {
    this.base = 0;
    this.tokens = [];
    this.keys = [];
    this.values = [];
    this.feats = [];
  }

  /** Cached positions (for tests). */
  get cachedPositions(): number {
    return this.tokens.length;
  }

  async propose(context: readonly number[], k: number, feature?: Float32Array): Promise<number[]> {
    const logits = this.proposeLogits(context, feature);
    return logits ? topK(logits, k) : [];
  }

  /**
   * The head's logits for the token after `context` (null without a feature
   * or before the second token). The cache keeps the positions whose token
   * still matches the context; the first changed position is recomputed from
   * its stored feature (its feature does not depend on the changed token);
   * positions after it would need features that are not known, so when the
   * new position does not follow directly the draft sequence restarts at it.
   */
  proposeLogits(context: readonly number[], feature?: Float32Array): Float32Array | null {
    const n = context.length - 1;
    const t = n - 1;
    if (t < 0 || !feature) return null;
    if (feature.length !== this.c.dim) throw new SpeceeFileError('EAGLE head', `feature has ${feature.length} values, expected ${this.c.dim}`);
    let keep = 0;
    while (keep < this.tokens.length && this.base + keep < t && this.tokens[keep] === context[this.base + keep + 1]) keep++;
    let redo: Float32Array | null = null;
    if (this.base + keep + 1 === t && keep < this.tokens.length) redo = this.feats[keep]!;
    else if (this.base + keep !== t) {
      this.reset();
      this.base = t;
      keep = 0;
    }
    this.tokens.length = keep;
    this.keys.length = keep;
    this.values.length = keep;
    this.feats.length = keep;
    if (redo) this.step(t - 1, context[n - 1]!, redo);
    return this.logits(this.step(t, context[n]!, feature));
  }

  /** Logits of the shared LM head for a head output. */
  logits(g: Float32Array): Float32Array {
    return matVec(this.target.lmHead, this.c.vocabSize, this.c.dim, g);
  }

  /** Runs one draft position (appends its K/V) and returns the head's output hidden state. */
  step(position: number, token: number, feature: Float32Array): Float32Array {
    const c = this.c;
    const h = this.head;
    const dim = c.dim;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) throw new SpeceeFileError('EAGLE head', `token ${token} is outside the vocabulary`);
    const inp = new Float32Array(2 * dim);
    inp.set(this.target.embedding.subarray(token * dim, (token + 1) * dim), 0);
    inp.set(feature, dim);
    const x = matVec(h.fc, dim, 2 * dim, inp, h.fcBias);
    const xn = h.inputNorm ? rmsNormRow(x, 0, dim, h.inputNorm, c.rmsEps) : x;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const q = matVec(h.wq, qDim, dim, xn);
    const kk = matVec(h.wk, kvDim, dim, xn);
    const v = matVec(h.wv, kvDim, dim, xn);
    this.rope(q, c.nHeads, position);
    this.rope(kk, c.nKvHeads, position);
    this.tokens.push(token);
    this.feats.push(Float32Array.from(feature));
    this.keys.push(kk);
    this.values.push(v);
    const att = new Float32Array(qDim);
    const T = this.keys.length;
    const scale = 1 / Math.sqrt(c.headDim);
    const scores = new Float64Array(T);
    for (let hh = 0; hh < c.nHeads; hh++) {
      const kvh = Math.floor((hh * c.nKvHeads) / c.nHeads);
      let m = -Infinity;
      for (let j = 0; j < T; j++) {
        let s = 0;
        const kj = this.keys[j]!;
        for (let d = 0; d < c.headDim; d++) s += q[hh * c.headDim + d]! * kj[kvh * c.headDim + d]!;
        scores[j] = s * scale;
        if (scores[j]! > m) m = scores[j]!;
      }
      let sum = 0;
      for (let j = 0; j < T; j++) sum += scores[j] = Math.exp(scores[j]! - m);
      for (let d = 0; d < c.headDim; d++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += scores[j]! * this.values[j]![kvh * c.headDim + d]!;
        att[hh * c.headDim + d] = acc / sum;
      }
    }
    const o = matVec(h.wo, dim, qDim, att);
    for (let i = 0; i < dim; i++) x[i] += o[i]!;
    const xn2 = rmsNormRow(x, 0, dim, h.postNorm, c.rmsEps);
    const gate = matVec(h.wGate, h.ffnDim, dim, xn2);
    const up = matVec(h.wUp, h.ffnDim, dim, xn2);
    for (let i = 0; i < h.ffnDim; i++) gate[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
    const down = matVec(h.wDown, dim, h.ffnDim, gate);
    for (let i = 0; i < dim; i++) x[i] += down[i]!;
    return x;
  }

  private rope(x: Float32Array, heads: number, pos: number): void {
    const c = this.c;
    const half = c.ropeDim / 2;
    for (let hh = 0; hh < heads; hh++) {
      const b = hh * c.headDim;
      for (let i = 0; i < half; i++) {
        const a = pos * this.invFreq[i]!;
        const cos = Math.cos(a);
        const sin = Math.sin(a);
        const [i0, i1] = this.head.ropeStyle === 'adjacent' ? [b + 2 * i, b + 2 * i + 1] : [b + i, b + i + half];
        const x0 = x[i0]!;
        const x1 = x[i1]!;
        x[i0] = x0 * cos - x1 * sin;
        x[i1] = x0 * sin + x1 * cos;
      }
    }
  }
}
