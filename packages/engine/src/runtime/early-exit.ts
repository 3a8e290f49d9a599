/**
 * Exit-aware decoding (SpecEE) on any backend that implements the contract's
 * exit ops. The engine owns the programs; what to exit with (predictors, the
 * drafter, the layer scheduler) comes from outside, typically from
 * @bitexit/specee's exits file (`createEarlyExit`), through the small
 * structural interfaces below, so the engine does not depend on SpecEE.
 *
 * One decode step stays one program run with one small readback:
 *   embed, layer 0 … [exit_check i, guard_begin 'running'] … layer L−1, head,
 *   guard_end, [propagate regions], [feature norm], [exit_record], sample
 * The exit decision never leaves the device; the host only learns the exit
 * layer afterwards (for the scheduler and the stats).
 */
import { EXIT_OP_KINDS, type Backend, type CompiledProgram, type DeviceBuffer, type DeviceWeight, type Op } from '@bitexit/backend';
import { BitexitError, encodeF32 } from '@bitexit/format';
import type { ModelConfig } from '../model/types.js';
import { InvalidOptionError } from './errors.js';
import { bodyOps, embedOps, headOps, layerSegments, type ExitMask, type ModelBuffers, type ModelWeights } from './programs.js';
import { ropeInvFreq } from './rope.js';

/** One layer's exit predictor: an MLP 3k → hidden → 1 (ReLU, sigmoid). */
export interface EarlyExitPredictor {
  /** [hidden, 3k] row-major. */
  readonly upW: Float32Array;
  readonly upB: Float32Array;
  /** [hidden]. */
  readonly downW: Float32Array;
  readonly downB: number;
}

/** Proposes the k most likely next tokens (see @bitexit/specee's Drafter). */
export interface EarlyExitDrafter {
  readonly kind: string;
  /** Whether `propose` reads the final-normed hidden state of the previous position. */
  readonly needsFeature: boolean;
  propose(context: readonly number[], k: number, feature?: Float32Array): Promise<number[]>;
  reset?(): void;
}

/** Picks the layers whose predictors run for the next token and learns from each token's exit layer. */
export interface EarlyExitScheduler {
  active(): readonly number[];
  /** The token's last computed layer (nLayers − 1 for full depth). */
  record(exitLayer: number): void;
}

/**
 * How the K/V of skipped layers are handled:
 * - 'mask' (the paper's): skipped layers store nothing for that position; their
 *   attention leaves the position out later.
 * - 'propagate': the skipped layers' K/V are computed from the exit hidden state
 *   (their attention norm and K/V projections only).
 */
export type KvPolicy = 'mask' | 'propagate';

export interface EarlyExitConfig {
  /** Predictors by layer (layers 0 … nLayers − 2; others are ignored). */
  predictors: ReadonlyMap<number, EarlyExitPredictor>;
  /** Draft tokens per step (the predictors' input width is 3k). */
  k: number;
  /** The predictor fires above this. */
  threshold: number;
  drafter: EarlyExitDrafter;
  scheduler: EarlyExitScheduler;
  /** Default 'propagate' (see the engine README for the measurements behind it). */
  kvPolicy?: KvPolicy;
}

/** Device state of early exit for one loaded model. */
export interface EarlyExitRuntime {
  readonly config: EarlyExitConfig;
  readonly kvPolicy: KvPolicy;
  readonly layers: readonly number[];
  readonly buffers: { drafts: DeviceBuffer; probs: DeviceBuffer; active: DeviceBuffer; exit: DeviceBuffer; feature: DeviceBuffer; exitLayers: DeviceBuffer | null };
  readonly weights: DeviceWeight[];
  /** One token in: the sampled token, the exit (token, layer), and the feature when the drafter reads it. */
  readonly decode: CompiledProgram;
  /** The same step reading back the logits the token came from (teacher-forced evaluation). */
  readonly score: CompiledProgram;
  /** Prefill's last chunk, also reading back the feature of its last row. */
  readonly prefillSample: CompiledProgram;
}

/** Checks the config against the model and the backend; throws a typed error naming what does not fit. */
export function checkEarlyExitConfig(config: EarlyExitConfig, c: ModelConfig, backend: Backend): void {
  const missing = EXIT_OP_KINDS.filter((k) => !backend.capabilities.ops.includes(k));
  if (missing.length) {
    throw new BitexitError(
      'E_UNSUPPORTED_OP',
      `backend '${backend.capabilities.name}' cannot run early exit: it has no kernel for ${missing.join(', ')}`,
    );
  }
  if (!Number.isInteger(config.k) || config.k < 1) throw new InvalidOptionError(`early exit: k must be a positive integer, got ${config.k}`);
  if (typeof config.threshold !== 'number' || Number.isNaN(config.threshold)) throw new InvalidOptionError('early exit: threshold must be a number');
  const policy = config.kvPolicy ?? 'propagate';
  if (policy !== 'mask' && policy !== 'propagate') throw new InvalidOptionError(`early exit: kvPolicy must be 'mask' or 'propagate', got '${policy}'`);
  let usable = 0;
  for (const [layer, p] of config.predictors) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= c.nLayers) {
      throw new InvalidOptionError(`early exit: a predictor is for layer ${layer}, the model has layers 0..${c.nLayers - 1}`);
    }
    const hidden = p.upB.length;
    if (p.upW.length !== hidden * 3 * config.k || p.downW.length !== hidden || !Number.isFinite(p.downB)) {
      throw new InvalidOptionError(`early exit: the predictor of layer ${layer} does not have the shapes of a 3k=${3 * config.k} → ${hidden} → 1 MLP`);
    }
    if (layer < c.nLayers - 1) usable++;
  }
  if (usable === 0) throw new InvalidOptionError('early exit: no predictor for any layer before the last');
}

const f32Tensor = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: 'f32' as const, shape, data: encodeF32(data) });

/** Uploads the predictors, creates the step buffers and compiles the exit programs. */
export async function createEarlyExitRuntime(
  backend: Backend,
  c: ModelConfig,
  w: ModelWeights,
  buf: ModelBuffers,
  contextLength: number,
  config: EarlyExitConfig,
): Promise<EarlyExitRuntime> {
  checkEarlyExitConfig(config, c, backend);
  const kvPolicy = config.kvPolicy ?? 'propagate';
  const k = config.k;
  const layers = [...config.predictors.keys()].filter((l) => l < c.nLayers - 1).sort((a, b) => a - b);
  const weights: DeviceWeight[] = [];
  const created: DeviceBuffer[] = [];
  const programs: CompiledProgram[] = [];
  const make = (dtype: 'f32' | 'i32', rows: number, cols: number, label: string) => {
    const b = backend.createBuffer(dtype, [rows, cols], label);
    created.push(b);
    return b;
  };
  try {
    const ex = {
      drafts: make('i32', 1, k, 'specee.drafts'),
      probs: make('f32', 1, k, 'specee.probs'),
      active: make('i32', 1, c.nLayers, 'specee.active'),
      exit: make('i32', 1, 2, 'specee.exit'),
      feature: make('f32', 1, c.dim, 'specee.feature'),
      exitLayers: kvPolicy === 'mask' ? make('i32', contextLength, 1, 'specee.exit_layers') : null,
    };
    const predictorWeights = new Map<number, { up: DeviceWeight; upBias: DeviceWeight; down: DeviceWeight; downBias: DeviceWeight }>();
    for (const layer of layers) {
      const p = config.predictors.get(layer)!;
      const hidden = p.upB.length;
      const up = async (name: string, shape: number[], data: Float32Array) => {
        const dw = await backend.uploadWeight(f32Tensor(`specee.blk.${layer}.${name}`, shape, data));
        weights.push(dw);
        return dw;
      };
      predictorWeights.set(layer, {
        up: await up('up.weight', [hidden, 3 * k], p.upW),
        upBias: await up('up.bias', [hidden], p.upB),
        down: await up('down.weight', [1, hidden], p.downW),
        downBias: await up('down.bias', [1], Float32Array.of(p.downB)),
      });
    }
    const mask: ExitMask | undefined = ex.exitLayers ? { exitLayers: ex.exitLayers } : undefined;
    const invFreq = ropeInvFreq(c);

    const stepOps = (threshold: number): Op[] => {
      const ops = embedOps(w, buf);
      let guarded = false;
      w.layers.forEach((l, i) => {
        for (const seg of layerSegments(c, l, i, buf, invFreq, mask)) ops.push(...seg.ops);
        const p = predictorWeights.get(i);
        if (!p) return;
        ops.push({
          kind: 'exit_check',
          x: buf.x,
          norm: w.outputNorm,
          eps: c.rmsEps,
          lmHead: w.output,
          drafts: ex.drafts,
          probs: ex.probs,
          active: ex.active,
          ...p,
          threshold,
          layer: i,
          logits: buf.logits,
          exit: ex.exit,
        });
        if (!guarded) {
          ops.push({ kind: 'guard_begin', exit: ex.exit, runIf: 'running' });
          guarded = true;
        }
      });
      ops.push(...headOps(c, w, buf));
      ops.push({ kind: 'guard_end' });
      if (kvPolicy === 'propagate') {
        // K/V of every layer an exit skipped, from the exit hidden state (still in x: nothing after the exit touched it).
        for (let j = layers[0]! + 1; j < c.nLayers; j++) {
          const l = w.layers[j]!;
          ops.push(
            { kind: 'guard_begin', exit: ex.exit, runIf: 'exited_before', layer: j },
            { kind: 'rmsnorm', x: buf.x, weight: l.attnNorm, eps: c.rmsEps, out: buf.xb },
            { kind: 'matmul', x: buf.xb, weight: l.wk, bias: l.bk, out: buf.k },
            { kind: 'matmul', x: buf.xb, weight: l.wv, bias: l.bv, out: buf.v },
            { kind: 'rope', x: buf.k, heads: c.nKvHeads, headDim: c.headDim, ropeDim: c.ropeDim, style: c.ropeStyle, invFreq },
            { kind: 'kv_store', k: buf.k, v: buf.v, kCache: buf.kCache[j]!, vCache: buf.vCache[j]! },
            { kind: 'guard_end' },
          );
        }
      }
      if (config.drafter.needsFeature) {
        ops.push({ kind: 'rmsnorm', x: buf.x, weight: w.outputNorm, eps: c.rmsEps, out: ex.feature, rows: 1 });
      }
      if (ex.exitLayers) ops.push({ kind: 'exit_record', exit: ex.exit, exitLayers: ex.exitLayers, lastLayer: c.nLayers - 1 });
      return ops;
    };
    const featureOut = config.drafter.needsFeature ? [{ buffer: ex.feature, rows: 1 as const }] : [];
    const compile = (p: Parameters<Backend['compile']>[0]) => {
      const compiled = backend.compile(p);
      programs.push(compiled);
      return compiled;
    };
    const sample: Op = { kind: 'sample', logits: buf.logits, history: buf.history, out: buf.token };
    const decode = compile({
      label: 'decode+exit',
      maxRows: 1,
      ops: [...stepOps(config.threshold), sample],
      outputs: [{ buffer: buf.token, rows: 1 }, { buffer: ex.exit, rows: 1 }, ...featureOut],
    });
    const score = compile({
      label: 'score+exit',
      maxRows: 1,
      ops: stepOps(config.threshold),
      outputs: [{ buffer: buf.logits, rows: 1 }, { buffer: ex.exit, rows: 1 }, ...featureOut],
    });
    // Prefill runs full depth (recording it under the mask policy).
    const prefillSample = compile({
      label: 'prefill+sample+feature',
      maxRows: buf.rows,
      ops: [...bodyOps(c, w, buf, mask), ...headOps(c, w, buf), sample],
      outputs: [{ buffer: buf.token, rows: 1 }, { buffer: buf.lastNorm, rows: 1 }],
    });
    return { config, kvPolicy, layers, buffers: ex, weights, decode, score, prefillSample };
  } catch (e) {
    for (const p of programs) backend.release(p);
    for (const b of created) backend.release(b);
    for (const dw of weights) backend.release(dw);
    throw e;
  }
}

export function releaseEarlyExitRuntime(backend: Backend, rt: EarlyExitRuntime): void {
  for (const p of [rt.decode, rt.score, rt.prefillSample]) backend.release(p);
  for (const b of Object.values(rt.buffers)) if (b) backend.release(b);
  for (const w of rt.weights) backend.release(w);
}

/** The per-step inputs: drafts (padded with -1), fresh probs, the active mask, exit = (-1, -1). */
export function exitStepInputs(rt: EarlyExitRuntime, nLayers: number, drafts: readonly number[]) {
  const k = rt.config.k;
  const active = new Int32Array(nLayers);
  // Fewer than k drafts: SpecEE cannot exit on this token, so no predictor runs.
  if (drafts.length >= k) for (const l of rt.config.scheduler.active()) if (l >= 0 && l < nLayers - 1) active[l] = 1;
  const d = new Int32Array(k).fill(-1);
  for (let j = 0; j < Math.min(k, drafts.length); j++) d[j] = drafts[j]!;
  return [
    { buffer: rt.buffers.drafts, data: d },
    { buffer: rt.buffers.probs, data: new Float32Array(k) },
    { buffer: rt.buffers.active, data: active },
    { buffer: rt.buffers.exit, data: Int32Array.of(-1, -1) },
  ];
}
