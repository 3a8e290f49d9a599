/**
 * A host (Float32Array) Llama decoder with a hand-written backward pass, for
 * the quantizer's end-to-end fine-tuning of quantization parameters on small
 * models. It computes exactly what the engine computes (RMSNorm llama2.c
 * style, RoPE 'adjacent' or 'half' with f32 angles, causal grouped-query
 * attention with 1/√headDim, SiLU-gated FFN, tied or untied LM head) for one
 * sequence at positions 0..T−1, and the gradients of a loss on the logits
 * with respect to every linear matrix and every norm weight (not the
 * embedding or the LM head, which the quantizer does not tune).
 */
import type { ModelConfig } from '@bitexit/engine';
import { ropeInvFreq } from '@bitexit/engine';

export interface HostLayerWeights {
  attnNorm: Float32Array;
  ffnNorm: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  wGate: Float32Array;
  wUp: Float32Array;
  wDown: Float32Array;
  bq?: Float32Array;
  bk?: Float32Array;
  bv?: Float32Array;
}

export interface HostModelWeights {
  config: ModelConfig;
  /** [vocab, dim]. */
  embedding: Float32Array;
  /** [vocab, dim]: the embedding itself when tied. */
  output: Float32Array;
  outputNorm: Float32Array;
  layers: HostLayerWeights[];
}

/** Names of the tuned tensors of a layer. */
export const LAYER_GRAD_KEYS = ['attnNorm', 'ffnNorm', 'wq', 'wk', 'wv', 'wo', 'wGate', 'wUp', 'wDown'] as const;
export type LayerGradKey = (typeof LAYER_GRAD_KEYS)[number];
export type LayerGrads = Record<LayerGradKey, Float32Array>;
export interface ModelGrads {
  layers: LayerGrads[];
  outputNorm: Float32Array;
}

export function zeroGrads(w: HostModelWeights): ModelGrads {
  return {
    layers: w.layers.map((l) => Object.fromEntries(LAYER_GRAD_KEYS.map((k) => [k, new Float32Array(l[k].length)])) as LayerGrads),
    outputNorm: new Float32Array(w.outputNorm.length),
  };
}

/** y[T, N] = x[T, K] · wᵀ (w is [N, K]) (+ bias). */
function matmulT(x: Float32Array, w: Float32Array, T: number, N: number, K: number, bias?: Float32Array): Float32Array {
  const y = new Float32Array(T * N);
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += x[xo + k]! * w[wo + k]!;
      y[t * N + n] = bias ? s + bias[n]! : s;
    }
  }
  return y;
}

/** dx[T, K] += dy[T, N] · w[N, K]. */
function backInput(dy: Float32Array, w: Float32Array, T: number, N: number, K: number, dx: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const g = dy[t * N + n]!;
      if (g === 0) continue;
      const wo = n * K;
      for (let k = 0; k < K; k++) dx[xo + k] += g * w[wo + k]!;
    }
  }
}

/** dw[N, K] += dyᵀ · x. */
function backWeight(dy: Float32Array, x: Float32Array, T: number, N: number, K: number, dw: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const g = dy[t * N + n]!;
      if (g === 0) continue;
      const wo = n * K;
      for (let k = 0; k < K; k++) dw[wo + k] += g * x[xo + k]!;
    }
  }
}

/** RMSNorm rows (llama2.c: w · (x / √(mean x² + eps))); returns the output and 1/rms per row. */
function rmsnorm(x: Float32Array, w: Float32Array, T: number, D: number, eps: number): { y: Float32Array; inv: Float64Array } {
  const y = new Float32Array(T * D);
  const inv = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[t * D + j]! * x[t * D + j]!;
    const r = 1 / Math.sqrt(ss / D + eps);
    inv[t] = r;
    for (let j = 0; j < D; j++) y[t * D + j] = w[j]! * (r * x[t * D + j]!);
  }
  return { y, inv };
}

/** dx += ∂/∂x of rmsnorm given dy; dw += ∂/∂w. */
function rmsnormBack(dy: Float32Array, x: Float32Array, inv: Float64Array, w: Float32Array, T: number, D: number, dx: Float32Array, dw: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const r = inv[t]!;
    let s = 0;
    for (let j = 0; j < D; j++) {
      const xj = x[t * D + j]!;
      const g = dy[t * D + j]!;
      dw[j] += g * xj * r;
      s += w[j]! * g * xj;
    }
    const c = (r * r * r * s) / D;
    for (let j = 0; j < D; j++) dx[t * D + j] += r * w[j]! * dy[t * D + j]! - c * x[t * D + j]!;
  }
}

interface Rope {
  cos: Float32Array;
  sin: Float32Array;
  half: number;
  adjacent: boolean;
}

function ropeTables(c: ModelConfig, T: number): Rope {
  const invFreq = ropeInvFreq(c);
  const half = c.ropeDim >> 1;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(t * invFreq[i]!);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, half, adjacent: c.ropeStyle === 'adjacent' };
}

/** Rotates every head of x [T, heads·headDim] in place; `sign` −1 applies the inverse (the backward pass). */
function rope(x: Float32Array, T: number, heads: number, headDim: number, r: Rope, sign: 1 | -1): void {
  const { half, adjacent } = r;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const base = t * heads * headDim + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = r.cos[t * half + i]!;
        const s = sign * r.sin[t * half + i]!;
        const a = adjacent ? base + 2 * i : base + i;
        const b = adjacent ? a + 1 : a + half;
        const x0 = x[a]!;
        const x1 = x[b]!;
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
      }
    }
  }
}

interface LayerCache {
  x: Float32Array;
  inv1: Float64Array;
  h1: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  p: Float32Array;
  a: Float32Array;
  x2: Float32Array;
  inv2: Float64Array;
  h2: Float32Array;
  g: Float32Array;
  u: Float32Array;
  m: Float32Array;
}

/** A loss on the logits [T, vocab]: its value and ∂loss/∂logits. */
export type LogitLoss = (logits: Float32Array) => { loss: number; dlogits: Float32Array };

/**
 * Runs `ids` (positions 0..T−1). Without `loss`, returns the logits [T, vocab].
 * With it, accumulates the gradients into `grads` and returns the loss.
 */
export function forwardBackward(w: HostModelWeights, ids: ArrayLike<number>, loss?: LogitLoss, grads?: ModelGrads): { logits: Float32Array; loss: number } {
  const c = w.config;
  const T = ids.length;
  const D = c.dim;
  const H = c.nHeads;
  const KV = c.nKvHeads;
  const hd = c.headDim;
  const F = c.ffnDim;
  const V = c.vocabSize;
  const qw = H * hd;
  const kvw = KV * hd;
  const scale = 1 / Math.sqrt(hd);
  const r = ropeTables(c, T);
  let x: Float32Array = new Float32Array(T * D);
  for (let t = 0; t < T; t++) x.set(w.embedding.subarray(ids[t]! * D, ids[t]! * D + D), t * D);
  const caches: LayerCache[] = [];
  for (const l of w.layers) {
    const { y: h1, inv: inv1 } = rmsnorm(x, l.attnNorm, T, D, c.rmsEps);
    const q = matmulT(h1, l.wq, T, qw, D, l.bq);
    const k = matmulT(h1, l.wk, T, kvw, D, l.bk);
    const v = matmulT(h1, l.wv, T, kvw, D, l.bv);
    rope(q, T, H, hd, r, 1);
    rope(k, T, KV, hd, r, 1);
    const p = new Float32Array(H * T * T);
    const a = new Float32Array(T * qw);
    for (let h = 0; h < H; h++) {
      const ko = Math.floor((h * KV) / H) * hd;
      for (let t = 0; t < T; t++) {
        const po = (h * T + t) * T;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[t * qw + h * hd + d]! * k[j * kvw + ko + d]!;
          s *= scale;
          p[po + j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) {
          const e = Math.exp(p[po + j]! - max);
          p[po + j] = e;
          sum += e;
        }
        for (let j = 0; j <= t; j++) {
          const pj = p[po + j]! / sum;
          p[po + j] = pj;
          for (let d = 0; d < hd; d++) a[t * qw + h * hd + d] += pj * v[j * kvw + ko + d]!;
        }
      }
    }
    const x2 = matmulT(a, l.wo, T, D, qw);
    for (let i = 0; i < x2.length; i++) x2[i] += x[i]!;
    const { y: h2, inv: inv2 } = rmsnorm(x2, l.ffnNorm, T, D, c.rmsEps);
    const g = matmulT(h2, l.wGate, T, F, D);
    const u = matmulT(h2, l.wUp, T, F, D);
    const m = new Float32Array(T * F);
    for (let i = 0; i < m.length; i++) m[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
    const x3 = matmulT(m, l.wDown, T, D, F);
    for (let i = 0; i < x3.length; i++) x3[i] += x2[i]!;
    caches.push({ x, inv1, h1, q, k, v, p, a, x2, inv2, h2, g, u, m });
    x = x3;
  }
  const { y: hf, inv: invF } = rmsnorm(x, w.outputNorm, T, D, c.rmsEps);
  const logits = matmulT(hf, w.output, T, V, D);
  if (!loss) return { logits, loss: 0 };
  if (!grads) throw new Error('forwardBackward: a loss needs grads');
  const out = loss(logits);

  // Backward.
  const dhf = new Float32Array(T * D);
  backInput(out.dlogits, w.output, T, V, D, dhf);
  let dx: Float32Array = new Float32Array(T * D);
  rmsnormBack(dhf, x, invF, w.outputNorm, T, D, dx, grads.outputNorm);
  for (let li = w.layers.length - 1; li >= 0; li--) {
    const l = w.layers[li]!;
    const gl = grads.layers[li]!;
    const cc = caches[li]!;
    // FFN: x3 = x2 + down(silu(g)·u).
    const dm = new Float32Array(T * F);
    backInput(dx, l.wDown, T, D, F, dm);
    backWeight(dx, cc.m, T, D, F, gl.wDown);
    const dg = new Float32Array(T * F);
    const du = new Float32Array(T * F);
    for (let i = 0; i < dm.length; i++) {
      const gi = cc.g[i]!;
      const sig = 1 / (1 + Math.exp(-gi));
      du[i] = dm[i]! * gi * sig;
      dg[i] = dm[i]! * cc.u[i]! * sig * (1 + gi * (1 - sig));
    }
    const dh2 = new Float32Array(T * D);
    backInput(dg, l.wGate, T, F, D, dh2);
    backInput(du, l.wUp, T, F, D, dh2);
    backWeight(dg, cc.h2, T, F, D, gl.wGate);
    backWeight(du, cc.h2, T, F, D, gl.wUp);
    const dx2 = Float32Array.from(dx);
    rmsnormBack(dh2, cc.x2, cc.inv2, l.ffnNorm, T, D, dx2, gl.ffnNorm);
    // Attention: x2 = x + o(attn(q, k, v)).
    const da = new Float32Array(T * qw);
    backInput(dx2, l.wo, T, D, qw, da);
    backWeight(dx2, cc.a, T, D, qw, gl.wo);
    const dq = new Float32Array(T * qw);
    const dk = new Float32Array(T * kvw);
    const dv = new Float32Array(T * kvw);
    const dp = new Float64Array(T);
    for (let h = 0; h < H; h++) {
      const ko = Math.floor((h * KV) / H) * hd;
      for (let t = 0; t < T; t++) {
        const po = (h * T + t) * T;
        const dao = t * qw + h * hd;
        let dot = 0;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += da[dao + d]! * cc.v[j * kvw + ko + d]!;
          dp[j] = s;
          dot += s * cc.p[po + j]!;
        }
        for (let j = 0; j <= t; j++) {
          const pj = cc.p[po + j]!;
          for (let d = 0; d < hd; d++) dv[j * kvw + ko + d] += pj * da[dao + d]!;
          const ds = pj * (dp[j]! - dot) * scale;
          if (ds === 0) continue;
          for (let d = 0; d < hd; d++) {
            dq[dao + d] += ds * cc.k[j * kvw + ko + d]!;
            dk[j * kvw + ko + d] += ds * cc.q[dao + d]!;
          }
        }
      }
    }
    rope(dq, T, H, hd, r, -1);
    rope(dk, T, KV, hd, r, -1);
    const dh1 = new Float32Array(T * D);
    backInput(dq, l.wq, T, qw, D, dh1);
    backInput(dk, l.wk, T, kvw, D, dh1);
    backInput(dv, l.wv, T, kvw, D, dh1);
    backWeight(dq, cc.h1, T, qw, D, gl.wq);
    backWeight(dk, cc.h1, T, kvw, D, gl.wk);
    backWeight(dv, cc.h1, T, kvw, D, gl.wv);
    rmsnormBack(dh1, cc.x, cc.inv1, l.attnNorm, T, D, dx2, gl.attnNorm);
    dx = dx2;
  }
  return { logits, loss: out.loss };
}

/** Row-wise log-softmax of [T, V] logits (float64 sums). */
export function logSoftmax(logits: Float32Array, V: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let o = 0; o < logits.length; o += V) {
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i]! - max);
    const lse = max + Math.log(sum);
    for (let i = 0; i < V; i++) out[o + i] = logits[o + i]! - lse;
  }
  return out;
}

/**
 * Distillation loss: mean over tokens of KL(teacher ‖ student), teacher given as
 * log-probabilities [T, V]; ∂/∂logits = (softmax(student) − p_teacher) / (T · tokensScale).
 * `norm` divides loss and gradient (e.g. the tokens of a whole batch).
 */
export function klLoss(teacherLogProbs: Float32Array, V: number, norm: number): LogitLoss {
  return (logits) => {
    const lq = logSoftmax(logits, V);
    const d = new Float32Array(logits.length);
    let loss = 0;
    for (let i = 0; i < logits.length; i++) {
      const lp = teacherLogProbs[i]!;
      const p = Math.exp(lp);
      loss += p * (lp - lq[i]!);
      d[i] = (Math.exp(lq[i]!) - p) / norm;
    }
    return { loss: loss / norm, dlogits: d };
  };
}
