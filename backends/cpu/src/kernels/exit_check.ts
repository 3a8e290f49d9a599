/**
 * SpecEE on the CPU: the exit check (see `exit_check` in @bitexit/backend's
 * program.ts), the guarded regions that skip the layers after an exit, and
 * the per-position record of the last layer computed (the `mask` KV policy).
 *
 * Everything is accumulated in float64. The draft logits decode only the k
 * LM-head rows they need; the full LM head runs only when the predictor fires.
 */
import { decodeRange } from '../storage.js';
import { argmaxOf } from './argmax.js';
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

/** LM-head rows decoded per block when the full head runs (amortises bx/q8_0 decoding). */
const HEAD_BLOCK_ROWS = 32;

function compileExitCheck(op: OpOf<'exit_check'>, ctx: KernelContext): KernelStep {
  const x = ctx.f32(op.x);
  const drafts = ctx.i32(op.drafts);
  const probs = ctx.f32(op.probs);
  const active = ctx.i32(op.active);
  const logits = ctx.f32(op.logits);
  const exit = ctx.i32(op.exit);
  const head = ctx.weight(op.lmHead);
  const norm = ctx.scratch(op.norm.shape[0]!);
  decodeRange(ctx.weight(op.norm), 0, norm.length, norm, 0);
  const up = ctx.scratch(op.up.shape[0]! * op.up.shape[1]!);
  decodeRange(ctx.weight(op.up), 0, up.length, up, 0);
  const upBias = ctx.scratch(op.upBias.shape[0]!);
  decodeRange(ctx.weight(op.upBias), 0, upBias.length, upBias, 0);
  const down = ctx.scratch(op.down.shape[1]!);
  decodeRange(ctx.weight(op.down), 0, down.length, down, 0);
  const downBias = ctx.scratch(1);
  decodeRange(ctx.weight(op.downBias), 0, 1, downBias, 0);

  const dim = op.x.shape[1];
  const vocab = op.lmHead.shape[0]!;
  const k = op.drafts.shape[1];
  const hidden = upBias.length;
  const { eps, threshold, layer } = op;
  const h = ctx.scratch(dim);
  const rows = ctx.scratch(HEAD_BLOCK_ROWS * dim);
  const z = new Float64Array(k);
  const features = new Float64Array(3 * k);
  ctx.account(z.byteLength + features.byteLength);

  const headRowDot = (r: number, into: Float32Array): number => {
    decodeRange(head, r * dim, dim, into, 0);
    let s = 0;
    for (let j = 0; j < dim; j++) s += into[j] * h[j];
    return s;
  };

  return (s) => {
    if (exit[1] >= 0 || active[layer] === 0) return;
    // h = the final RMSNorm of the last active row.
    const xo = (s.n - 1) * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[xo + j] * x[xo + j];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) h[j] = x[xo + j] * inv * norm[j];
    // Draft logits, their softmax, and its change since the previous evaluated layer.
    let max = -Infinity;
    for (let j = 0; j < k; j++) {
      const id = drafts[j];
      z[j] = id >= 0 && id < vocab ? headRowDot(id, rows) : -Infinity;
      if (z[j] > max) max = z[j];
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(z[j] - max);
    for (let j = 0; j < k; j++) {
      const p = Math.exp(z[j] - max) / sum;
      features[j] = z[j];
      features[k + j] = p;
      features[2 * k + j] = p - probs[j];
      probs[j] = p;
    }
    // The predictor: 3k -> hidden (ReLU) -> 1 (sigmoid).
    let o = downBias[0];
    for (let u = 0; u < hidden; u++) {
      let a = upBias[u];
      const base = u * 3 * k;
      for (let j = 0; j < 3 * k; j++) a += up[base + j] * features[j];
      if (a > 0) o += down[u] * a;
    }
    const score = 1 / (1 + Math.exp(-o));
    if (!(score > threshold)) return;
    // Fired: the full LM head on h, then exit only if its argmax is a draft.
    for (let r0 = 0; r0 < vocab; r0 += HEAD_BLOCK_ROWS) {
      const nr = Math.min(HEAD_BLOCK_ROWS, vocab - r0);
      decodeRange(head, r0 * dim, nr * dim, rows, 0);
      for (let r = 0; r < nr; r++) {
        let acc = 0;
        const base = r * dim;
        for (let j = 0; j < dim; j++) acc += rows[base + j] * h[j];
        logits[r0 + r] = acc;
      }
    }
    const t = argmaxOf(logits, 0, vocab);
    for (let j = 0; j < k; j++) {
      if (drafts[j] === t) {
        exit[0] = t;
        exit[1] = layer;
        return;
      }
    }
  };
}

/** Whether the ops of a guarded region run now (read at each op: an exit inside the region skips the rest). */
export function guardPredicate(op: OpOf<'guard_begin'>, ctx: KernelContext): () => boolean {
  const exit = ctx.i32(op.exit);
  if (op.runIf === 'running') return () => exit[1] < 0;
  const layer = op.layer!;
  return () => exit[1] >= 0 && exit[1] < layer;
}

function compileExitRecord(op: OpOf<'exit_record'>, ctx: KernelContext): KernelStep {
  const record = ctx.i32(op.exitLayers);
  const exit = op.exit ? ctx.i32(op.exit) : null;
  const rows = op.exitLayers.shape[0];
  return (s) => {
    const last = exit && exit[1] >= 0 ? exit[1] : op.lastLayer;
    for (let t = 0; t < s.n && s.pos + t < rows; t++) record[s.pos + t] = last;
  };
}

// The backend wraps the ops of a region itself (see CpuBackend.compile); these keep the kinds registered.
const noop: KernelStep = () => {};

export const exitCheckKernel: CpuKernel<'exit_check'> = { kind: 'exit_check', fn: compileExitCheck };
export const guardBeginKernel: CpuKernel<'guard_begin'> = { kind: 'guard_begin', fn: () => noop };
export const guardEndKernel: CpuKernel<'guard_end'> = { kind: 'guard_end', fn: () => noop };
export const exitRecordKernel: CpuKernel<'exit_record'> = { kind: 'exit_record', fn: compileExitRecord };
