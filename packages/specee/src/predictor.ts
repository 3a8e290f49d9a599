import { decodeToF32, readSafetensors, type ByteSource } from '@bitexit/format';
import { SpeceeFileError, SpeceeOptionError } from './errors.js';
import { Rng, softmax } from './math.js';

export const DEFAULT_K = 4;
export const PREDICTOR_HIDDEN = 512;

/**
 * The 3k features of one evaluated layer, in the drafter's rank order:
 * [logits of the k draft tokens at this layer, their softmax over those k,
 * softmax − softmax of the previous evaluated layer (the softmax itself at
 * the first evaluated layer)]. Returns the features and this layer's softmax
 * (the `prev` of the next evaluated layer).
 */
export function exitFeatures(draftLogits: ArrayLike<number>, prev: readonly number[] | null): { features: Float32Array; probs: number[] } {
  const k = draftLogits.length;
  const probs = softmax(draftLogits);
  const f = new Float32Array(3 * k);
  for (let j = 0; j < k; j++) {
    f[j] = draftLogits[j]!;
    f[k + j] = probs[j]!;
    f[2 * k + j] = probs[j]! - (prev ? prev[j]! : 0);
  }
  return { features: f, probs };
}

/** MLP 3k → 512 → 1 with ReLU and a sigmoid output: P(exit here is right). */
export class ExitPredictor {
  readonly inputs: number;
  readonly hidden: number;
  constructor(
    /** [hidden, 3k] row-major. */
    readonly upW: Float32Array,
    readonly upB: Float32Array,
    /** [hidden] (down.weight [1, hidden]). */
    readonly downW: Float32Array,
    public downB: number,
  ) {
    this.hidden = upB.length;
    this.inputs = upW.length / this.hidden;
    if (!Number.isInteger(this.inputs) || downW.length !== this.hidden || this.inputs % 3 !== 0) {
      throw new SpeceeOptionError(`inconsistent predictor shapes: up ${upW.length}, up bias ${upB.length}, down ${downW.length}`);
    }
  }

  get k(): number {
    return this.inputs / 3;
  }

  /** PyTorch's default Linear initialisation (uniform ±1/√fan_in), seeded. */
  static random(k: number, seed: number, hidden = PREDICTOR_HIDDEN): ExitPredictor {
    const rng = new Rng(seed);
    const n = 3 * k;
    const u = (fanIn: number) => (2 * rng.next() - 1) / Math.sqrt(fanIn);
    return new ExitPredictor(
      Float32Array.from({ length: hidden * n }, () => u(n)),
      Float32Array.from({ length: hidden }, () => u(n)),
      Float32Array.from({ length: hidden }, () => u(hidden)),
      u(hidden),
    );
  }

  /** Probability (sigmoid output) for one feature vector. */
  forward(x: ArrayLike<number>): number {
    const n = this.inputs;
    let z = this.downB;
    for (let h = 0; h < this.hidden; h++) {
      let a = this.upB[h]!;
      const base = h * n;
      for (let i = 0; i < n; i++) a += this.upW[base + i]! * x[i]!;
      if (a > 0) z += a * this.downW[h]!;
    }
    return 1 / (1 + Math.exp(-z));
  }

  /** Multiply-adds of one evaluation, times 2. */
  get flops(): number {
    return 2 * this.hidden * this.inputs + 2 * this.hidden;
  }
}

/** A labelled data set for one layer: x [n, 3k], y [n] in {0, 1}. */
export interface ExitSamples {
  x: Float32Array;
  y: Uint8Array;
  n: number;
  inputs: number;
}

export interface BinaryMetrics {
  n: number;
  positives: number;
  /** Predicted positive (p > threshold). */
  predicted: number;
  truePositives: number;
  precision: number;
  recall: number;
  accuracy: number;
}

export function binaryMetrics(p: ExitPredictor, s: ExitSamples, rows: ArrayLike<number>, threshold = 0.5): BinaryMetrics {
  let tp = 0;
  let pred = 0;
  let pos = 0;
  let correct = 0;
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r]!;
    const yhat = p.forward(s.x.subarray(i * s.inputs, (i + 1) * s.inputs)) > threshold ? 1 : 0;
    const y = s.y[i]!;
    pos += y;
    pred += yhat;
    if (yhat && y) tp++;
    if (yhat === y) correct++;
  }
  return {
    n: rows.length,
    positives: pos,
    predicted: pred,
    truePositives: tp,
    precision: pred ? tp / pred : 0,
    recall: pos ? tp / pos : 0,
    accuracy: rows.length ? correct / rows.length : 0,
  };
}

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  /** Adam learning rate. Default 1e-3. */
  lr?: number;
  seed?: number;
  /** Held-out fraction. Default 0.2. */
  heldOut?: number;
  threshold?: number;
  hidden?: number;
}

export interface TrainResult {
  predictor: ExitPredictor;
  train: BinaryMetrics;
  heldOut: BinaryMetrics;
  /** Mean BCE of the last epoch. */
  loss: number;
}

/**
 * Trains one layer's predictor: binary cross-entropy, Adam (β 0.9/0.999),
 * mini-batches, seeded shuffling and initialisation; the last `heldOut`
 * fraction of a seeded permutation is held out for precision/recall.
 */
export function trainPredictor(s: ExitSamples, options: TrainOptions = {}): TrainResult {
  const epochs = options.epochs ?? 30;
  const bs = options.batchSize ?? 64;
  const lr = options.lr ?? 1e-3;
  const seed = options.seed ?? 0;
  const heldOutFrac = options.heldOut ?? 0.2;
  const threshold = options.threshold ?? 0.5;
  if (!(heldOutFrac >= 0 && heldOutFrac < 1)) throw new SpeceeOptionError(`heldOut must be in [0, 1), got ${heldOutFrac}`);
  if (!Number.isInteger(bs) || bs < 1) throw new SpeceeOptionError(`batchSize must be a positive integer, got ${bs}`);
  const k = s.inputs / 3;
  const p = ExitPredictor.random(k, seed ^ 0x5bd1e995, options.hidden ?? PREDICTOR_HIDDEN);
  const rng = new Rng(seed);
  const order = rng.shuffle(Array.from({ length: s.n }, (_, i) => i));
  const nHeld = Math.floor(s.n * heldOutFrac);
  const trainRows = order.slice(0, s.n - nHeld);
  const heldRows = order.slice(s.n - nHeld);
  const H = p.hidden;
  const n = s.inputs;
  const params = [p.upW, p.upB, p.downW];
  const m = params.map((a) => new Float64Array(a.length));
  const v = params.map((a) => new Float64Array(a.length));
  let mB = 0;
  let vB = 0;
  const g = params.map((a) => new Float64Array(a.length));
  const act = new Float64Array(H);
  const b1 = 0.9;
  const b2 = 0.999;
  const eps = 1e-8;
  let step = 0;
  let lastLoss = 0;
  for (let e = 0; e < epochs; e++) {
    rng.shuffle(trainRows);
    let lossSum = 0;
    for (let b0 = 0; b0 < trainRows.length; b0 += bs) {
      const batch = trainRows.slice(b0, b0 + bs);
      for (const a of g) a.fill(0);
      let gB = 0;
      for (const i of batch) {
        const x = s.x.subarray(i * n, (i + 1) * n);
        let z = p.downB;
        for (let h = 0; h < H; h++) {
          let a = p.upB[h]!;
          const base = h * n;
          for (let j = 0; j < n; j++) a += p.upW[base + j]! * x[j]!;
          act[h] = a > 0 ? a : 0;
          z += act[h]! * p.downW[h]!;
        }
        const prob = 1 / (1 + Math.exp(-z));
        const y = s.y[i]!;
        // BCE with logits, numerically stable.
        lossSum += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        const dz = (prob - y) / batch.length;
        gB += dz;
        for (let h = 0; h < H; h++) {
          if (act[h]! <= 0) continue;
          g[2]![h] += dz * act[h]!;
          const da = dz * p.downW[h]!;
          g[1]![h] += da;
          const base = h * n;
          for (let j = 0; j < n; j++) g[0]![base + j] += da * x[j]!;
        }
      }
      step++;
      const c1 = 1 - Math.pow(b1, step);
      const c2 = 1 - Math.pow(b2, step);
      for (let q = 0; q < params.length; q++) {
        const w = params[q]!;
        const gq = g[q]!;
        const mq = m[q]!;
        const vq = v[q]!;
        for (let j = 0; j < w.length; j++) {
          mq[j] = b1 * mq[j]! + (1 - b1) * gq[j]!;
          vq[j] = b2 * vq[j]! + (1 - b2) * gq[j]! * gq[j]!;
          w[j] -= (lr * (mq[j]! / c1)) / (Math.sqrt(vq[j]! / c2) + eps);
        }
      }
      mB = b1 * mB + (1 - b1) * gB;
      vB = b2 * vB + (1 - b2) * gB * gB;
      p.downB -= (lr * (mB / c1)) / (Math.sqrt(vB / c2) + eps);
    }
    lastLoss = trainRows.length ? lossSum / trainRows.length : 0;
  }
  return { predictor: p, train: binaryMetrics(p, s, trainRows, threshold), heldOut: binaryMetrics(p, s, heldRows, threshold), loss: lastLoss };
}

/**
 * Loads the SpecEE authors' released predictors: safetensors with
 * `model.layers.{i}.pred.up.weight` [512, 3k], `.up.bias` [512],
 * `.down.weight` [1, 512], `.down.bias` [1] (fp16 in their release; f32/bf16
 * also read). Returns the predictors by layer index.
 */
export async function loadReleasedPredictors(source: ByteSource): Promise<Map<number, ExitPredictor>> {
  const st = await readSafetensors(source);
  const file = source.name;
  const layers = new Set<number>();
  for (const t of st.tensors) {
    const m = /^model\.layers\.(\d+)\.pred\.(up|down)\.(weight|bias)$/.exec(t.name);
    if (m) layers.add(Number(m[1]));
  }
  if (layers.size === 0) throw new SpeceeFileError(file, "no tensors named 'model.layers.{i}.pred.up.weight': not a SpecEE predictor file");
  const out = new Map<number, ExitPredictor>();
  for (const i of [...layers].sort((a, b) => a - b)) {
    const p = `model.layers.${i}.pred.`;
    const get = async (name: string, rank: number): Promise<{ data: Float32Array; shape: number[] }> => {
      const info = st.tensor(p + name);
      if (!info) throw new SpeceeFileError(file, `missing tensor '${p + name}'`);
      if (info.shape.length !== rank) throw new SpeceeFileError(file, `'${p + name}' has shape [${info.shape.join(', ')}], expected rank ${rank}`);
      return { data: decodeToF32(await st.readTensor(p + name)), shape: info.shape };
    };
    const up = await get('up.weight', 2);
    const [hidden, inputs] = up.shape as [number, number];
    if (inputs % 3 !== 0 || inputs < 3) throw new SpeceeFileError(file, `'${p}up.weight' has ${inputs} inputs, expected 3k`);
    const upB = await get('up.bias', 1);
    const down = await get('down.weight', 2);
    const downB = await get('down.bias', 1);
    if (upB.shape[0] !== hidden) throw new SpeceeFileError(file, `'${p}up.bias' has ${upB.shape[0]} entries, expected ${hidden}`);
    if (down.shape[0] !== 1 || down.shape[1] !== hidden) throw new SpeceeFileError(file, `'${p}down.weight' has shape [${down.shape.join(', ')}], expected [1, ${hidden}]`);
    if (downB.shape[0] !== 1) throw new SpeceeFileError(file, `'${p}down.bias' has ${downB.shape[0]} entries, expected 1`);
    out.set(i, new ExitPredictor(up.data, upB.data, down.data, downB.data[0]!));
  }
  return out;
}
