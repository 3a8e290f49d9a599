/**
 * End-to-end fine-tuning of the quantization parameters by distillation
 * (in the spirit of EfficientQAT's E2E-QP and PEQA): the codes and zeros stay
 * as GPTQ chose them; each (row, group) scale s = s₀·e^θ and each RMSNorm
 * weight γ = γ₀·(1 + φ) are trained with Adam to minimise
 * KL(original model ‖ quantized model) per token on calibration sequences.
 * The norms are stored in F32, so tuning them costs no bits; the tuned
 * scales are then mapped to what the file holds (second-order codes), like
 * every scale the quantizer writes. The epoch with the smallest KL on held-out
 * calibration sequences is kept (so it can never end worse than it started
 * on those sequences).
 */
import type { QuantizedMatrix } from '../algorithms/matrix.js';
import { forwardBackward, klLoss, logSoftmax, zeroGrads, type HostModelWeights, type LayerGradKey } from './transformer.js';

export interface TunedMatrix {
  layer: number;
  key: Exclude<LayerGradKey, 'attnNorm' | 'ffnNorm'>;
  q: QuantizedMatrix;
}

export interface FinetuneOptions {
  train: Int32Array[];
  validation: Int32Array[];
  /** Passes over `train`. */
  epochs: number;
  /** Adam learning rate of θ and φ. */
  lr: number;
  /** Sequences per step. */
  batch: number;
  /** Also tune the RMSNorm weights. */
  norms: boolean;
  /**
   * Also tune the codes: a continuous latent code per weight, rounded (and clamped
   * to the group's width) in the forward pass, with a straight-through gradient
   * (quantization-aware training). Its Adam learning rate, in code units; 0 = codes fixed.
   */
  codeLr: number;
  onEpoch?: (e: { epoch: number; train: number; validation: number }) => void;
  signal?: AbortSignal;
}

export interface FinetuneResult {
  /** Tuned scales per matrix (same order as the input), before mapping to the file's values. */
  scales: Float32Array[];
  /** Tuned codes per matrix (the input's codes when codeLr is 0). */
  codes: Uint8Array[];
  /** Tuned norm weights: per layer attnNorm/ffnNorm, and outputNorm. */
  layerNorms: { attnNorm: Float32Array; ffnNorm: Float32Array }[];
  outputNorm: Float32Array;
  /** Validation KL (nats per token) before tuning and at the kept epoch. */
  before: number;
  after: number;
  keptEpoch: number;
}

class Adam {
  private m: Float32Array;
  private v: Float32Array;
  private t = 0;
  constructor(
    readonly p: Float32Array,
    private readonly lr: number,
  ) {
    this.m = new Float32Array(p.length);
    this.v = new Float32Array(p.length);
  }
  step(g: Float32Array): void {
    this.t++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < g.length; i++) {
      this.m[i] = b1 * this.m[i]! + (1 - b1) * g[i]!;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * g[i]! * g[i]!;
      this.p[i] -= (this.lr * (this.m[i]! / c1)) / (Math.sqrt(this.v[i]! / c2) + 1e-12);
    }
  }
}

/**
 * `teacher`: the original model; `student`: the same model with every matrix of
 * `matrices` dequantized into its slot (its arrays are overwritten while tuning).
 */
export function finetuneQuantized(teacher: HostModelWeights, student: HostModelWeights, matrices: TunedMatrix[], o: FinetuneOptions): FinetuneResult {
  const V = teacher.config.vocabSize;
  const target = (seqs: Int32Array[]) => seqs.map((ids) => logSoftmax(forwardBackward(teacher, ids).logits, V));
  const trainLp = target(o.train);
  const valLp = target(o.validation);

  // Per matrix: unit[k] = code − zero (0 at outliers), the outliers' fixed values, θ.
  const state = matrices.map(({ q }) => {
    const { rows, cols, groupSize } = q;
    const groups = q.widths.length;
    const unit = new Float32Array(rows * cols);
    const fixed = new Float32Array(rows * cols);
    const isOutlier = new Uint8Array(rows * cols);
    q.outliers.values.forEach((v, j) => {
      const i = q.outliers.rows[j]! * cols + q.outliers.cols[j]!;
      isOutlier[i] = 1;
      fixed[i] = v;
    });
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        if (!isOutlier[i]) unit[i] = q.codes[i]! - q.zeros[r * groups + Math.floor(c / groupSize)]!;
      }
    }
    const theta = new Float32Array(rows * groups);
    // Latent codes (code units) and each weight's clamp limit.
    const latent = Float32Array.from(q.codes);
    const maxq = new Uint8Array(rows * cols);
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) maxq[r * cols + c] = (1 << q.widths[Math.floor(c / groupSize)]!) - 1;
    return { q, rows, cols, groups, groupSize, unit, fixed, isOutlier, theta, adam: new Adam(theta, o.lr), latent, maxq, latentAdam: new Adam(latent, o.codeLr) };
  });
  const roundCodes = (s: (typeof state)[number]) => {
    const codes = Uint8Array.from(s.q.codes);
    for (let i = 0; i < codes.length; i++) if (!s.isOutlier[i]) codes[i] = Math.min(s.maxq[i]!, Math.max(0, Math.round(s.latent[i]!)));
    return codes;
  };
  const write = () => {
    state.forEach((s, i) => {
      if (o.codeLr > 0) {
        const codes = roundCodes(s);
        for (let r = 0; r < s.rows; r++) {
          for (let c = 0; c < s.cols; c++) {
            const k = r * s.cols + c;
            if (!s.isOutlier[k]) s.unit[k] = codes[k]! - s.q.zeros[r * s.groups + Math.floor(c / s.groupSize)]!;
          }
        }
      }
      const dst = student.layers[matrices[i]!.layer]![matrices[i]!.key];
      for (let r = 0; r < s.rows; r++) {
        for (let g = 0; g < s.groups; g++) {
          const sc = s.q.scales[r * s.groups + g]! * Math.exp(s.theta[r * s.groups + g]!);
          const c1 = Math.min(s.cols, (g + 1) * s.groupSize);
          for (let c = g * s.groupSize; c < c1; c++) dst[r * s.cols + c] = sc * s.unit[r * s.cols + c]! + s.fixed[r * s.cols + c]!;
        }
      }
    });
  };
  // Norms: γ = γ₀(1 + φ).
  const normBase = [...student.layers.flatMap((l) => [l.attnNorm, l.ffnNorm]), student.outputNorm].map((a) => Float32Array.from(a));
  const normSlots = () => [...student.layers.flatMap((l) => [l.attnNorm, l.ffnNorm]), student.outputNorm];
  const phi = normBase.map((b) => new Float32Array(b.length));
  const phiAdam = phi.map((p) => new Adam(p, o.lr));
  const writeNorms = () => normSlots().forEach((dst, i) => dst.forEach((_, j) => (dst[j] = normBase[i]![j]! * (1 + phi[i]![j]!))));

  const evalKl = () => {
    let total = 0;
    let tokens = 0;
    o.validation.forEach((ids, s) => {
      total += klLoss(valLp[s]!, V, 1)(forwardBackward(student, ids).logits).loss;
      tokens += ids.length;
    });
    return total / Math.max(1, tokens);
  };
  const snapshot = () => ({ theta: state.map((s) => Float32Array.from(s.theta)), phi: phi.map((p) => Float32Array.from(p)), codes: state.map(roundCodes) });

  write();
  writeNorms();
  const before = evalKl();
  let best = { kl: before, epoch: 0, ...snapshot() };
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    let trainLoss = 0;
    let trainTokens = 0;
    for (let b0 = 0; b0 < o.train.length; b0 += o.batch) {
      if (o.signal?.aborted) break;
      const batch = o.train.slice(b0, b0 + o.batch);
      const tokens = batch.reduce((a, s) => a + s.length, 0);
      const grads = zeroGrads(student);
      batch.forEach((ids, j) => {
        trainLoss += forwardBackward(student, ids, klLoss(trainLp[b0 + j]!, V, tokens), grads).loss * tokens;
      });
      trainTokens += tokens;
      // ∂L/∂θ(r,g) = s(r,g) · Σ_{k∈g} ∂L/∂W(r,k) · unit(r,k).
      state.forEach((s, i) => {
        const dw = grads.layers[matrices[i]!.layer]![matrices[i]!.key];
        const gt = new Float32Array(s.theta.length);
        for (let r = 0; r < s.rows; r++) {
          for (let g = 0; g < s.groups; g++) {
            const c1 = Math.min(s.cols, (g + 1) * s.groupSize);
            let acc = 0;
            for (let c = g * s.groupSize; c < c1; c++) acc += dw[r * s.cols + c]! * s.unit[r * s.cols + c]!;
            gt[r * s.groups + g] = acc * s.q.scales[r * s.groups + g]! * Math.exp(s.theta[r * s.groups + g]!);
          }
        }
        s.adam.step(gt);
        if (o.codeLr > 0) {
          // Straight-through: ∂L/∂latent = ∂L/∂W · scale inside the clamp range.
          const gl = new Float32Array(s.latent.length);
          for (let r = 0; r < s.rows; r++) {
            for (let g = 0; g < s.groups; g++) {
              const sc = s.q.scales[r * s.groups + g]! * Math.exp(s.theta[r * s.groups + g]!);
              const c1 = Math.min(s.cols, (g + 1) * s.groupSize);
              for (let c = g * s.groupSize; c < c1; c++) {
                const k = r * s.cols + c;
                const v = s.latent[k]!;
                const g1 = dw[k]! * sc;
                if (s.isOutlier[k] || (v <= -0.5 && g1 > 0) || (v >= s.maxq[k]! + 0.5 && g1 < 0)) continue;
                gl[k] = g1;
              }
            }
          }
          s.latentAdam.step(gl);
        }
      });
      if (o.norms) {
        const ng = [...grads.layers.flatMap((l) => [l.attnNorm, l.ffnNorm]), grads.outputNorm];
        ng.forEach((g, i) => phiAdam[i]!.step(Float32Array.from(g, (v, j) => v * normBase[i]![j]!)));
        writeNorms();
      }
      write();
    }
    const validation = evalKl();
    o.onEpoch?.({ epoch, train: trainLoss / Math.max(1, trainTokens), validation });
    if (validation < best.kl) best = { kl: validation, epoch, ...snapshot() };
    if (o.signal?.aborted) break;
  }
  const scales = state.map((s, i) => Float32Array.from(s.q.scales, (v, j) => v * Math.exp(best.theta[i]![j]!)));
  const norms = normBase.map((b, i) => Float32Array.from(b, (v, j) => v * (1 + best.phi[i]![j]!)));
  return {
    scales,
    codes: best.codes,
    layerNorms: student.layers.map((_, l) => ({ attnNorm: norms[2 * l]!, ffnNorm: norms[2 * l + 1]! })),
    outputNorm: norms[norms.length - 1]!,
    before,
    after: best.kl,
    keptEpoch: best.epoch,
  };
}
