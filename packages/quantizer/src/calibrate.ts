/**
 * Calibration through the engine's backend contract, ONE LAYER AT A TIME:
 * the residual stream of every calibration sequence lives on the host
 * between layers; for layer i only its weights are on the device, its
 * segments (the engine's `layerSegments`) run one by one and the input of
 * each linear layer is read back to accumulate XᵀX. Memory: the host
 * residual streams (tokens × dim f32), one layer's weights, and the XᵀX of
 * that layer (K × K f64 per distinct input).
 */
import type { Backend, CompiledProgram, DeviceWeight } from '@bitexit/backend';
import { createBuffers, embedOps, layerSegments, ropeInvFreq } from '@bitexit/engine';
import type { LayerWeights, ModelBuffers, ModelConfig, ModelWeights } from '@bitexit/engine';
import { encodeF32 } from '@bitexit/format';
import type { HostTensor } from '@bitexit/format';

/** The four distinct inputs of a decoder layer's linear matrices. */
export type InputKind = 'qkv' | 'o' | 'gateUp' | 'down';
export const INPUT_OF: Record<MatrixKind, InputKind> = {
  attn_q: 'qkv',
  attn_k: 'qkv',
  attn_v: 'qkv',
  attn_output: 'o',
  ffn_gate: 'gateUp',
  ffn_up: 'gateUp',
  ffn_down: 'down',
};
export type MatrixKind = 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_gate' | 'ffn_up' | 'ffn_down';
export const MATRIX_KINDS: readonly MatrixKind[] = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'];

/** Accumulates H = 2XᵀX/n (full or diagonal) over rows of X [n, k]. */
export class HessianAccumulator {
  readonly sum: Float64Array;
  rows = 0;
  constructor(
    readonly k: number,
    readonly full: boolean,
  ) {
    this.sum = new Float64Array(full ? k * k : k);
  }

  add(x: Float32Array, n: number): void {
    const k = this.k;
    const s = this.sum;
    if (!this.full) {
      for (let t = 0; t < n; t++) for (let i = 0; i < k; i++) s[i] += x[t * k + i]! * x[t * k + i]!;
    } else {
      const row = new Float64Array(k);
      for (let t = 0; t < n; t++) {
        for (let i = 0; i < k; i++) row[i] = x[t * k + i]!;
        for (let i = 0; i < k; i++) {
          const xi = row[i]!;
          if (xi === 0) continue;
          const base = i * k;
          for (let j = i; j < k; j++) s[base + j] += xi * row[j]!;
        }
      }
    }
    this.rows += n;
  }

  /** H = 2XᵀX/n: full [k, k] (symmetric) or the diagonal [k]. */
  hessian(): Float64Array {
    const k = this.k;
    const f = this.rows > 0 ? 2 / this.rows : 0;
    if (!this.full) return Float64Array.from(this.sum, (v) => v * f);
    const h = new Float64Array(k * k);
    for (let i = 0; i < k; i++) {
      for (let j = i; j < k; j++) {
        const v = this.sum[i * k + j]! * f;
        h[i * k + j] = v;
        h[j * k + i] = v;
      }
    }
    return h;
  }

  diagonal(): Float64Array {
    const k = this.k;
    if (!this.full) return this.hessian();
    const f = this.rows > 0 ? 2 / this.rows : 0;
    return Float64Array.from({ length: k }, (_, i) => this.sum[i * k + i]! * f);
  }
}

/** One layer's tensors on the host, in the engine's canonical names without the `blk.i.` prefix. */
export type HostLayer = Map<string, HostTensor>;

export const f32Tensor = (name: string, shape: number[], data: Float32Array): HostTensor => ({ name, dtype: 'f32', shape, data: encodeF32(data) });

/**
 * Runs calibration sequences layer by layer on a backend. `config` must
 * describe the weights as they are given (RoPE style included).
 */
export class LayerRunner {
  private x: Float32Array[];
  private x0: Float32Array[];
  private readonly buf: ModelBuffers;
  private readonly invFreq: Float32Array;

  private constructor(
    private readonly backend: Backend,
    private readonly c: ModelConfig,
    private readonly seqLen: number,
    x0: Float32Array[],
    buf: ModelBuffers,
  ) {
    this.x0 = x0;
    this.x = x0.map((v) => Float32Array.from(v));
    this.buf = buf;
    this.invFreq = ropeInvFreq(c);
  }

  /** Embeds every sequence (each `seqLen` ids) with `embedding` ([vocab, dim], any dtype the backend reads). */
  static async create(backend: Backend, c: ModelConfig, sequences: Int32Array[], embedding: HostTensor): Promise<LayerRunner> {
    const seqLen = sequences[0]!.length;
    const buf = createBuffers(backend, c, seqLen, seqLen);
    const table = await backend.uploadWeight(embedding);
    const dummy = table; // embedOps only reads the table
    const weights = { tokenEmbedding: table, layers: [], outputNorm: dummy, output: dummy } as ModelWeights;
    const program = backend.compile({ label: 'calib-embed', maxRows: seqLen, ops: embedOps(weights, buf), outputs: [{ buffer: buf.x, rows: 'active' }] });
    const x0: Float32Array[] = [];
    try {
      for (const ids of sequences) {
        const [x] = await backend.run(program, { pos: 0, n: ids.length, inputs: [{ buffer: buf.ids, data: ids }] });
        x0.push(Float32Array.from(x as Float32Array));
      }
    } finally {
      backend.release(program);
      backend.release(table);
    }
    return new LayerRunner(backend, c, seqLen, x0, buf);
  }

  get tokens(): number {
    return this.x.length * this.seqLen;
  }

  /** Back to the embeddings (before a second pass). */
  reset(): void {
    this.x = this.x0.map((v) => Float32Array.from(v));
  }

  /**
   * Runs layer `index` with `tensors` over every sequence. With `collect`,
   * returns the XᵀX accumulators of the four inputs; with `advance`, the
   * layer's outputs become the next layer's inputs.
   */
  async run(
    index: number,
    tensors: HostLayer,
    options: { collect?: 'full' | 'diag'; advance: boolean },
  ): Promise<Record<InputKind, HessianAccumulator> | null> {
    const be = this.backend;
    const c = this.c;
    const uploaded: DeviceWeight[] = [];
    const programs: CompiledProgram[] = [];
    try {
      const up = async (name: string): Promise<DeviceWeight> => {
        const t = tensors.get(name);
        if (!t) throw new Error(`calibration: layer ${index} has no tensor '${name}'`);
        const w = await be.uploadWeight(t);
        uploaded.push(w);
        return w;
      };
      const opt = async (name: string) => (tensors.has(name) ? up(name) : undefined);
      const l: LayerWeights = {
        attnNorm: await up('attn_norm.weight'),
        wq: await up('attn_q.weight'),
        wk: await up('attn_k.weight'),
        wv: await up('attn_v.weight'),
        bq: await opt('attn_q.bias'),
        bk: await opt('attn_k.bias'),
        bv: await opt('attn_v.bias'),
        wo: await up('attn_output.weight'),
        ffnNorm: await up('ffn_norm.weight'),
        wGate: await up('ffn_gate.weight'),
        wUp: await up('ffn_up.weight'),
        wDown: await up('ffn_down.weight'),
      };
      const segs = layerSegments(c, l, index, this.buf, this.invFreq);
      const full = options.collect === 'full';
      const acc: Record<InputKind, HessianAccumulator> | null = options.collect
        ? {
            qkv: new HessianAccumulator(c.dim, full),
            o: new HessianAccumulator(c.nHeads * c.headDim, full),
            gateUp: new HessianAccumulator(c.dim, full),
            down: new HessianAccumulator(c.ffnDim, full),
          }
        : null;
      const kindOf = (feeds: readonly string[]): InputKind =>
        feeds.includes('attn_q') ? 'qkv' : feeds.includes('attn_output') ? 'o' : feeds.includes('ffn_gate') ? 'gateUp' : 'down';
      // One program per segment that ends at a matrix input (read back when collecting), the rest batched.
      const plan: { program: CompiledProgram; kind: InputKind | null; readsX: boolean }[] = [];
      let pending: typeof segs = [];
      segs.forEach((s, si) => {
        pending.push(s);
        const last = si === segs.length - 1;
        const collectHere = s.input !== undefined && acc !== null;
        if (!collectHere && !last) return;
        const outputs = [];
        if (collectHere) outputs.push({ buffer: s.input!.buffer, rows: 'active' as const });
        if (last && options.advance) outputs.push({ buffer: this.buf.x, rows: 'active' as const });
        const program = be.compile({ label: `calib-${index}-${s.name}`, maxRows: this.seqLen, ops: pending.flatMap((p) => p.ops), outputs });
        programs.push(program);
        plan.push({ program, kind: collectHere ? kindOf(s.input!.feeds) : null, readsX: last && options.advance });
        pending = [];
      });
      for (let q = 0; q < this.x.length; q++) {
        const n = this.seqLen;
        be.writeBuffer(this.buf.x, this.x[q]!);
        for (const step of plan) {
          const out = await be.run(step.program, { pos: 0, n });
          let o = 0;
          if (step.kind && acc) acc[step.kind].add(out[o++] as Float32Array, n);
          if (step.readsX) this.x[q] = Float32Array.from(out[o++] as Float32Array);
        }
      }
      return acc;
    } finally {
      for (const p of programs) be.release(p);
      for (const w of uploaded) be.release(w);
    }
  }

  dispose(): void {
    for (const b of Object.values(this.buf)) {
      if (Array.isArray(b)) b.forEach((x) => this.backend.release(x));
      else if (typeof b === 'object') this.backend.release(b);
    }
  }
}

/**
 * Cuts calibration text into sequences of `seqLen` token ids, each starting
 * with BOS (like the perplexity protocol), `maxTokens` ids in all (at least one sequence).
 */
export function calibrationSequences(ids: readonly number[], seqLen: number, maxTokens: number, bos: number | null): Int32Array[] {
  const n = Math.max(1, Math.floor(maxTokens / seqLen));
  const out: Int32Array[] = [];
  for (let s = 0; s < n && (s + 1) * seqLen <= ids.length; s++) {
    const seq = Int32Array.from(ids.slice(s * seqLen, (s + 1) * seqLen));
    if (bos !== null) seq[0] = bos;
    out.push(seq);
  }
  return out;
}
