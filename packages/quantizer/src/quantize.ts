/**
 * quantizeModel: any model the engine opens → a bitexit GGUF whose seven
 * linear matrices per layer are mixed-precision "bx" matrices (2/3/4-bit
 * column groups, optional 16-bit outliers), under one global bit budget.
 *
 * Pipeline (calibrated):
 *   1. pass 1, layer by layer: diag(XᵀX) of every linear input (original
 *      weights) → per column group, the Hessian-weighted error at each width
 *      (clipping search included), normalised per matrix;
 *   2. global allocation of widths under the budget (every byte counted);
 *   3. pass 2, layer by layer: full XᵀX, GPTQ with the chosen widths, then
 *      the quantized layer's outputs feed the next layer (sequential);
 *   4. the GGUF is written (config, tokenizer, chat template, bx tensors,
 *      bitexit.quant.* keys).
 * Uncalibrated: H = I everywhere, i.e. round-to-nearest with a plain
 * (unweighted) clipping search and range-based allocation.
 */
import { createBackend, type Backend } from '@bitexit/backend';
import { ensureDefaultBackend, ggufModelHeader, loadExactTensor, openModel, permuteRows } from '@bitexit/engine';
import type { ModelConfig, ModelSource, TensorEntry } from '@bitexit/engine';
import {
  BX_GROUP_SIZES,
  BitexitError,
  decodeToF32,
  encodeF16,
  encodeF32,
  encodeQ8_0,
  ggufValue,
  readGguf,
  writeGguf,
} from '@bitexit/format';
import type { ByteSink, GgufMetadataValue, GgufTensorSpec, HostTensor, WeightDType } from '@bitexit/format';
import { allocateWidths, shedUntil, type AllocMatrix, type Allocation } from './algorithms/allocate.js';
import { dequantizeMatrix, quantizeMatrix, type QuantizedMatrix } from './algorithms/matrix.js';
import { groupCount, widthErrorTable, type Width } from './algorithms/rtn.js';
import { calibrationSequences, f32Tensor, INPUT_OF, LayerRunner, MATRIX_KINDS, type HostLayer, type InputKind, type MatrixKind } from './calibrate.js';
import { BxCodec } from './codec.js';
import { KlProbe } from './sensitivity.js';
import type { HostModelWeights } from './finetune/transformer.js';
import { finetuneQuantized, type TunedMatrix } from './finetune/tune.js';

const MATRIX_KEY: Record<MatrixKind, TunedMatrix['key']> = {
  attn_q: 'wq',
  attn_k: 'wk',
  attn_v: 'wv',
  attn_output: 'wo',
  ffn_gate: 'wGate',
  ffn_up: 'wUp',
  ffn_down: 'wDown',
};

/** The whole model on the host in f32 (fine-tuning), in the quantizer's layout. */
async function hostModel(c: ModelConfig, load: (name: string) => Promise<Float32Array>, untiedOutput: boolean): Promise<HostModelWeights> {
  const embedding = await load('token_embd.weight');
  const layers: HostModelWeights['layers'] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const t = (s: string) => load(`blk.${l}.${s}`);
    const layer: HostModelWeights['layers'][number] = {
      attnNorm: await t('attn_norm.weight'),
      ffnNorm: await t('ffn_norm.weight'),
      wq: await t('attn_q.weight'),
      wk: await t('attn_k.weight'),
      wv: await t('attn_v.weight'),
      wo: await t('attn_output.weight'),
      wGate: await t('ffn_gate.weight'),
      wUp: await t('ffn_up.weight'),
      wDown: await t('ffn_down.weight'),
    };
    if (c.qkvBias) {
      layer.bq = await t('attn_q.bias');
      layer.bk = await t('attn_k.bias');
      layer.bv = await t('attn_v.bias');
    }
    layers.push(layer);
  }
  return { config: c, embedding, output: untiedOutput ? await load('output.weight') : embedding, outputNorm: await load('output_norm.weight'), layers };
}

export type DenseDType = 'f32' | 'f16' | 'q8_0';

export interface QuantizeOptions {
  /** Average bits per weight over all quantized matrices, every byte of them counted. Default 2.9. */
  bits?: number;
  /** Allowed column-group widths. Default [2, 3, 4]. */
  widths?: Width[];
  /** Columns per group: 32, 64 or 128. Default 64. */
  groupSize?: number;
  /** Fraction of each matrix's weights kept as 16-bit outliers (inside 2-bit groups). Default 0 (see README). */
  outliers?: number;
  /** Calibration text (or a file to read it from, Node). Without it: round-to-nearest with H = I. */
  calibText?: string;
  calibPath?: string;
  /** Calibration tokens (whole sequences of calibSeqLen). Default 2048. */
  calibTokens?: number;
  /** Tokens per calibration sequence (each starts with BOS). Default 256 (capped by the model's context). */
  calibSeqLen?: number;
  /** GPTQ error compensation (needs calibration). Default true. */
  gptq?: boolean;
  /** GPTQ act-order (static groups). Default true (see README). */
  actOrder?: boolean;
  /** GPTQ relative damping. Default 0.01. */
  damp?: number;
  /** Feed each quantized layer's outputs to the next layer's calibration. Default true. */
  sequential?: boolean;
  /** Rounds of scale refitting under the full Hessian after GPTQ (then GPTQ again with the refitted scales). Default 2 (see README). */
  refit?: number;
  /**
   * End-to-end fine-tuning after GPTQ: epochs of distillation (KL to the original
   * model) that train every group scale and every RMSNorm weight with the codes fixed
   * (src/finetune). Needs calibration; runs on the host in f32, so it is for small
   * models. Default FINETUNE_DEFAULT_EPOCHS when calibrated and the matrices hold at
   * most FINETUNE_DEFAULT_MAX_WEIGHTS weights, else 0.
   */
  finetune?: number;
  /** Calibration tokens the fine-tuning trains on (whole sequences). Default FINETUNE_DEFAULT_TOKENS (16384). */
  finetuneTokens?: number;
  /** Adam learning rate of the fine-tuning (log-scales and relative norm changes). Default 2e-3. */
  finetuneLr?: number;
  /** Adam learning rate of the fine-tuning's latent codes (code units; 0 keeps GPTQ's codes). Default 5e-3. */
  finetuneCodeLr?: number;
  /** Second-order quantization of the scales. Default true. */
  secondOrder?: boolean;
  /** Second-order scale code bits (2..8). Default 8. */
  scaleBits?: number;
  /** Hessian-weighted clipping search. Default true. */
  clip?: boolean;
  /**
   * How matrices' errors are made comparable for the allocator: 'relative' (each
   * matrix's error over its output energy), 'absolute' (raw Hessian-weighted error),
   * 'measured' (scaled so that each matrix's error at each width equals the measured
   * KL divergence of the model's outputs when only that matrix is quantized; needs
   * calibration; runs the whole model 3 × matrices times, so the default only on models
   * with at most MEASURED_SENSITIVITY_MAX_WEIGHTS matrix weights). Default 'measured' when
   * calibrated and small enough, else 'relative'.
   */
  sensitivity?: 'relative' | 'absolute' | 'measured';
  /** Tokens (whole calibration sequences) the 'measured' sensitivity runs the model on. Default 512. */
  sensitivityTokens?: number;
  /** 'measured' sensitivity: quantize the probed matrix with GPTQ (full Hessians in pass 1) instead of round-to-nearest. Default true with GPTQ. */
  sensitivityGptq?: boolean;
  /** Storage of the token embedding (also the LM head when tied). Default 'q8_0' (f16 when rows are not multiples of 32). */
  embeddingDType?: DenseDType;
  /** Storage of an untied LM head. Default 'q8_0'. */
  outputDType?: DenseDType;
  /** Backend for calibration (name or instance). Default 'cpu'. */
  backend?: string | Backend;
  tokenizerPath?: string;
  /** general.name of the output. */
  name?: string;
  signal?: AbortSignal;
}

export interface QuantizeProgress {
  stage: 'calibrate' | 'analyse' | 'allocate' | 'quantize' | 'finetune' | 'write';
  /** Work units done / total over the whole run (for one bar with an ETA). */
  done: number;
  total: number;
  detail?: string;
}

export interface TensorReport {
  name: string;
  shape: number[];
  dtype: WeightDType;
  bits_per_weight: number;
  /** bx only: fraction of the matrix's weights at each width. */
  widths?: { '2': number; '3': number; '4': number };
  outliers?: number;
  /** bx only: Σ_k H_kk (w − ŵ)² / Σ_k H_kk w² (diagonal approximation; H = I uncalibrated). */
  relative_error?: number;
}

export interface QuantizeReport {
  bits_per_weight: { matrices: number; file: number };
  width_fractions: { '2': number; '3': number; '4': number };
  outliers: { count: number; fraction: number };
  per_tensor: TensorReport[];
  seconds: number;
  /** Settings actually used and notes (calibration, policy). */
  settings: {
    bits: number;
    widths: Width[];
    groupSize: number;
    outlierFraction: number;
    calibrated: boolean;
    calibrationTokens: number;
    gptq: boolean;
    actOrder: boolean;
    refit: number;
    sequential: boolean;
    secondOrder: boolean;
    clip: boolean;
    sensitivity: 'relative' | 'absolute' | 'measured';
    finetuneEpochs: number;
    embedding: WeightDType;
    output: WeightDType | 'tied';
    norms: 'f32';
  };
  notes: string[];
}

/** A user-facing quantizer error (bad option, budget out of range). */
export class QuantizeOptionError extends BitexitError {
  constructor(message: string) {
    super('E_QUANTIZE_OPTION', message);
    this.name = 'QuantizeOptionError';
  }
}

/**
 * The 'measured' sensitivity (the default with calibration) runs the whole model
 * once per (matrix, width); above this many matrix weights the default is 'relative'.
 */
export const MEASURED_SENSITIVITY_MAX_WEIGHTS = 20_000_000;

/** Fine-tuning (host f32, whole model in memory twice) is on by default up to this many matrix weights... */
export const FINETUNE_DEFAULT_MAX_WEIGHTS = 5_000_000;
/** ...and refused above this many. */
export const FINETUNE_MAX_WEIGHTS = 200_000_000;
export const FINETUNE_DEFAULT_EPOCHS = 8;
/**
 * Default calibration tokens for fine-tuning. 16384 rather than 8192: on
 * stories260K (whole disjoint eval text) PPL ×F32 went 1.660 → 1.573 at 2.9
 * bits, 1.278 → 1.226 at 3.3 and 1.096 → 1.079 at 4.0, for about 1.5× the time.
 */
export const FINETUNE_DEFAULT_TOKENS = 16384;

interface MatrixInfo {
  name: string;
  layer: number;
  kind: MatrixKind;
  rows: number;
  cols: number;
}

function checkOptions(o: QuantizeOptions) {
  const bits = o.bits ?? 2.9;
  if (!(bits > 0) || !Number.isFinite(bits)) throw new QuantizeOptionError(`--bits must be a positive number, got ${bits}`);
  const widths = [...new Set(o.widths ?? [2, 3, 4])].sort((a, b) => a - b) as Width[];
  if (widths.length === 0 || widths.some((w) => w !== 2 && w !== 3 && w !== 4)) {
    throw new QuantizeOptionError(`--widths must list 2, 3 and/or 4, got ${String(o.widths)}`);
  }
  const groupSize = o.groupSize ?? 64;
  if (!BX_GROUP_SIZES.includes(groupSize)) throw new QuantizeOptionError(`--group-size must be one of ${BX_GROUP_SIZES.join(', ')}, got ${groupSize}`);
  const outlierFraction = o.outliers ?? 0;
  if (!(outlierFraction >= 0 && outlierFraction < 0.25)) throw new QuantizeOptionError(`--outliers must be a fraction in [0, 0.25), got ${outlierFraction}`);
  const calibTokens = o.calibTokens ?? 2048;
  if (!Number.isSafeInteger(calibTokens) || calibTokens < 1) throw new QuantizeOptionError(`--calib-tokens must be a positive integer, got ${calibTokens}`);
  const scaleBits = o.scaleBits ?? 8;
  if (!Number.isInteger(scaleBits) || scaleBits < 2 || scaleBits > 8) throw new QuantizeOptionError(`scaleBits must be an integer in 2..8`);
  const damp = o.damp ?? 0.01;
  if (!(damp > 0)) throw new QuantizeOptionError(`damp must be > 0`);
  return { bits, widths, groupSize, outlierFraction, calibTokens, scaleBits, damp };
}

function denseDType(want: DenseDType, shape: readonly number[]): WeightDType {
  return want === 'q8_0' && shape[shape.length - 1]! % 32 !== 0 ? 'f16' : want;
}

function encodeDense(f: Float32Array, dtype: WeightDType, shape: readonly number[]): Uint8Array {
  switch (dtype) {
    case 'f32':
      return encodeF32(f);
    case 'f16':
      return encodeF16(f);
    case 'q8_0':
      return encodeQ8_0(f, shape);
    default:
      throw new Error(`unexpected dense dtype ${dtype}`);
  }
}

/** Reads all of a Node file as text (lazy import keeps the module browser-safe). */
async function readText(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const { FileAccessError } = await import('@bitexit/format');
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new FileAccessError(path, `cannot read calibration text (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
}

/**
 * Quantizes `input` (any model the engine opens) and writes a GGUF v3 to
 * `sink` (or to the file `output`). Returns the report printed by the CLI.
 */
export async function quantizeModel(
  input: string | ModelSource,
  output: string | ByteSink,
  options: QuantizeOptions = {},
  onProgress?: (p: QuantizeProgress) => void,
): Promise<QuantizeReport> {
  const t0 = performance.now();
  const o = checkOptions(options);
  const calibText = options.calibText ?? (options.calibPath !== undefined ? await readText(options.calibPath) : undefined);
  const source = typeof input === 'string' ? await openModel(input, { tokenizerPath: options.tokenizerPath }) : input;
  let backend: Backend | null = null;
  let ownsBackend = false;
  try {
    const notes: string[] = [];
    const header = ggufModelHeader(source, { name: options.name, fileType: 1024, quantized: true });
    notes.push(...header.notes);
    // Work in the file's layout: Q/K rows permuted like convertToGguf does, RoPE style of the file.
    const c: ModelConfig = { ...source.config, ropeStyle: header.ropeStyle };
    const orderOf = (name: string): Int32Array | null =>
      /^blk\.\d+\.attn_q\.(weight|bias)$/.test(name) ? header.rowOrders.q : /^blk\.\d+\.attn_k\.(weight|bias)$/.test(name) ? header.rowOrders.k : null;
    const entry = (name: string): TensorEntry => {
      const e = source.tensors.get(name);
      if (!e) throw new BitexitError('E_MODEL_FORMAT', `${source.path}: missing tensor '${name}'`);
      return e;
    };
    const loadHost = async (name: string): Promise<HostTensor> => {
      let t = await loadExactTensor(entry(name)); // exact values of Q4_K etc., not their load-time Q8_0
      const perm = orderOf(name);
      if (perm) t = permuteRows(t, perm, source.path);
      return t;
    };
    const loadF32 = async (name: string) => decodeToF32(await loadHost(name));

    const matrices: MatrixInfo[] = [];
    for (let l = 0; l < c.nLayers; l++) {
      for (const kind of MATRIX_KINDS) {
        const name = `blk.${l}.${kind}.weight`;
        const shape = entry(name).shape;
        matrices.push({ name, layer: l, kind, rows: shape[0]!, cols: shape[1]! });
      }
    }
    const totalWeights = matrices.reduce((a, m) => a + m.rows * m.cols, 0);

    const calibrated = calibText !== undefined;
    const useGptq = calibrated && (options.gptq ?? true);
    const actOrder = useGptq && (options.actOrder ?? true);
    // Refit costs O(cols²) per row and round: ~4 h per 7B layer, so large models default to 0.
    const refit = useGptq ? (options.refit ?? (totalWeights <= MEASURED_SENSITIVITY_MAX_WEIGHTS ? 2 : 0)) : 0;
    if (!Number.isInteger(refit) || refit < 0 || refit > 10) throw new QuantizeOptionError(`refit must be an integer in 0..10, got ${options.refit}`);
    const sequential = calibrated && (options.sequential ?? true);
    if (!calibrated) {
      notes.push('no calibration text: round-to-nearest with H = I (range-based clipping search and allocation)');
      if (options.gptq) notes.push('GPTQ needs calibration text (--calib); round-to-nearest used');
    }
    // A budget above what the widest groups cost at the default group size buys smaller groups
    // instead of being left unspent (measured at --bits 4.5: group 32 beat all-4-bit group 64 on
    // both fixture models, README "Rate–distortion").
    if (options.groupSize === undefined) {
      const maxWidth = o.widths[o.widths.length - 1]!;
      const widestCodec = new BxCodec({ groupSize: o.groupSize, secondOrder: options.secondOrder ?? true, scaleBits: o.scaleBits });
      const widest = matrices.reduce((a, m) => a + 8 * widestCodec.byteLength(m.rows, m.cols, new Uint8Array(groupCount(m.cols, o.groupSize)).fill(maxWidth), 0), 0);
      if (o.bits * totalWeights > widest && o.groupSize > 32) {
        notes.push(`--bits ${o.bits} is more than all-${maxWidth}-bit groups of ${o.groupSize} take (${(widest / totalWeights).toFixed(3)} bits per weight): group size 32`);
        o.groupSize = 32;
      }
    }
    const codec = new BxCodec({ groupSize: o.groupSize, secondOrder: options.secondOrder ?? true, scaleBits: o.scaleBits });
    // Outliers: the same number of slots in every row (the format's ELL table), round(fraction · cols).
    // Outliers live in 2-bit groups only: a matrix left without any gets no slots (and its bits go to widths).
    const outlierSlots = (m: MatrixInfo, widths: Uint8Array) => (widths.includes(2) ? Math.min(m.cols, Math.round(o.outlierFraction * m.cols)) : 0);
    const budget = o.bits * totalWeights;
    const exactBits = (widths: Uint8Array[]) => matrices.reduce((a, m, i) => a + 8 * codec.byteLength(m.rows, m.cols, widths[i]!, outlierSlots(m, widths[i]!)), 0);
    const minWidths = matrices.map((m) => new Uint8Array(groupCount(m.cols, o.groupSize)).fill(o.widths[0]!));
    const minBits = exactBits(minWidths);
    if (minBits > budget) {
      throw new QuantizeOptionError(
        `--bits ${o.bits} is below the smallest this model can take with widths ${o.widths.join(',')} and these settings (${(minBits / totalWeights).toFixed(3)} bits per weight)`,
      );
    }
    // The most any allocation can spend: every group at the widest width (plus, with outliers, the
    // slots a single 2-bit group brings). A larger budget would be silently left unspent.
    const widest = o.widths[o.widths.length - 1]!;
    const maxBits = matrices.reduce((a, m) => {
      const groups = groupCount(m.cols, o.groupSize);
      const all = new Uint8Array(groups).fill(widest);
      let bytes = codec.byteLength(m.rows, m.cols, all, outlierSlots(m, all));
      if (o.widths[0] === 2 && widest !== 2 && o.outlierFraction > 0) {
        const one2 = new Uint8Array(groups).fill(widest);
        one2[0] = 2;
        bytes = Math.max(bytes, codec.byteLength(m.rows, m.cols, one2, outlierSlots(m, one2)));
      }
      return a + 8 * bytes;
    }, 0);
    if (budget > maxBits) {
      const most = Math.floor((1000 * maxBits) / totalWeights) / 1000;
      const smaller = options.groupSize !== undefined && o.groupSize > 32 ? ' (or a smaller --group-size)' : '';
      throw new QuantizeOptionError(
        `--bits ${o.bits} is more than this model can spend with widths ${o.widths.join(',')} at group size ${o.groupSize}: the maximum is ${most} bits per weight; pass --bits ${most} or less${smaller}`,
      );
    }
    const clip = options.clip ?? true;
    const finetuneEpochs = useGptq ? (options.finetune ?? (totalWeights <= FINETUNE_DEFAULT_MAX_WEIGHTS ? FINETUNE_DEFAULT_EPOCHS : 0)) : 0;
    if (!Number.isInteger(finetuneEpochs) || finetuneEpochs < 0 || finetuneEpochs > 1000) throw new QuantizeOptionError(`finetune must be an integer number of epochs in 0..1000, got ${options.finetune}`);
    if (finetuneEpochs > 0 && totalWeights > FINETUNE_MAX_WEIGHTS) {
      throw new QuantizeOptionError(`fine-tuning runs on the host in f32 and takes models up to ${FINETUNE_MAX_WEIGHTS / 1e6}M matrix weights; this one has ${(totalWeights / 1e6).toFixed(0)}M (use --finetune 0)`);
    }
    if (!useGptq && options.finetune) notes.push('fine-tuning needs calibration text and GPTQ; skipped');
    const finetuneLr = options.finetuneLr ?? 2e-3;
    if (!(finetuneLr > 0)) throw new QuantizeOptionError(`finetuneLr must be > 0`);
    const defaultSensitivity = totalWeights <= MEASURED_SENSITIVITY_MAX_WEIGHTS ? 'measured' : 'relative';
    const sensitivity = calibrated ? (options.sensitivity ?? defaultSensitivity) : options.sensitivity === 'absolute' ? 'absolute' : 'relative';
    if (!calibrated && options.sensitivity === 'measured') notes.push('measured sensitivity needs calibration text (--calib); relative used');
    const G = o.groupSize;

    // Progress units: matrix analyses and quantizations weigh their size, layer runs a layer's worth.
    const layerUnits = totalWeights / c.nLayers;
    const runs = calibrated ? c.nLayers * (sequential ? 3 : 2) : 0;
    const total = runs * layerUnits + 2 * totalWeights + layerUnits + finetuneEpochs * layerUnits;
    let done = 0;
    const progress = (stage: QuantizeProgress['stage'], units: number, detail?: string) => {
      done += units;
      if (options.signal?.aborted) throw new BitexitError('E_ABORTED', 'quantization aborted');
      onProgress?.({ stage, done: Math.min(done, total), total, detail });
    };
    progress('calibrate', 0, 'opening');

    // ---------------------------------------------------------------- calibration setup
    let runner: LayerRunner | null = null;
    let calibrationTokens = 0;
    let probeSeqs: Int32Array[] = [];
    const seqLen = Math.min(options.calibSeqLen ?? 256, c.contextLength);
    let calibIds: number[] = [];
    if (calibrated) {
      const tok = source.tokenizer;
      if (!tok) throw new QuantizeOptionError(`${source.path}: the model carries no tokenizer; calibration needs one (pass --tokenizer)`);
      const ids = tok.encode(calibText!, { addBos: true });
      calibIds = ids;
      const seqs = calibrationSequences(ids, seqLen, o.calibTokens, tok.bosId);
      if (seqs.length === 0) throw new QuantizeOptionError(`the calibration text has ${ids.length} tokens, fewer than one sequence of ${seqLen}`);
      calibrationTokens = seqs.length * seqLen;
      probeSeqs = seqs.slice(0, Math.max(1, Math.floor((options.sensitivityTokens ?? 512) / seqLen)));
      if (typeof options.backend === 'object') backend = options.backend;
      else {
        await ensureDefaultBackend(); // a script that registered no backend gets the CPU one, as loadModel does
        backend = (await createBackend(options.backend ?? 'cpu')).backend;
        ownsBackend = true;
      }
      runner = await LayerRunner.create(backend, c, seqs, await loadHost('token_embd.weight'));
    }
    const layerHost = async (l: number, replace?: Map<string, Float32Array>): Promise<HostLayer> => {
      const m: HostLayer = new Map();
      for (const suffix of ['attn_norm.weight', 'ffn_norm.weight', ...MATRIX_KINDS.map((k) => `${k}.weight`), 'attn_q.bias', 'attn_k.bias', 'attn_v.bias']) {
        const name = `blk.${l}.${suffix}`;
        if (!source.tensors.has(name)) continue;
        const r = replace?.get(name);
        m.set(suffix, r ? f32Tensor(name, entry(name).shape, r) : await loadHost(name));
      }
      return m;
    };

    // ---------------------------------------------------------------- pass 1: error tables
    const tables: Float64Array[][] = [];
    const norms: number[] = [];
    const diags: Float64Array[] = [];
    const probeGptq = sensitivity === 'measured' && useGptq && (options.sensitivityGptq ?? true);
    const fullH = new Map<string, Float64Array>();
    for (let l = 0; l < c.nLayers; l++) {
      let diag: Record<InputKind, Float64Array> | null = null;
      if (runner) {
        const acc = await runner.run(l, await layerHost(l), { collect: probeGptq ? 'full' : 'diag', advance: true });
        diag = { qkv: acc!.qkv.diagonal(), o: acc!.o.diagonal(), gateUp: acc!.gateUp.diagonal(), down: acc!.down.diagonal() };
        if (probeGptq) {
          for (const m of matrices.filter((x) => x.layer === l)) fullH.set(m.name, acc![INPUT_OF[m.kind]].hessian());
        }
        progress('calibrate', layerUnits, `layer ${l}: activation statistics`);
      }
      for (const m of matrices.filter((x) => x.layer === l)) {
        const w = await loadF32(m.name);
        const h = diag ? diag[INPUT_OF[m.kind]] : new Float64Array(m.cols).fill(1);
        tables.push(widthErrorTable(w, m.rows, m.cols, G, o.widths, h, { clipGrid: clip ? undefined : [0] }));
        diags.push(h);
        let energy = 0;
        for (let r = 0; r < m.rows; r++) for (let k = 0; k < m.cols; k++) energy += h[k]! * w[r * m.cols + k]! ** 2;
        norms.push(sensitivity === 'relative' ? (energy > 0 ? energy : 1) : 1);
        progress('analyse', m.rows * m.cols, m.name);
      }
    }

    // ---------------------------------------------------------------- measured sensitivity
    let scaleOf: (i: number, wi: number) => number = (i) => 1 / norms[i]!;
    // Nothing to allocate with one width: the probe would only cost time.
    if (sensitivity === 'measured' && backend && o.widths.length > 1) {
      const probe = await KlProbe.create(backend, source, c, loadHost, probeSeqs);
      const factors = matrices.map(() => new Float64Array(o.widths.length));
      for (const [i, m] of matrices.entries()) {
        const w = await loadF32(m.name);
        for (const [wi, b] of o.widths.entries()) {
          const q = quantizeMatrix(w, m.rows, m.cols, {
            groupSize: G,
            widths: new Uint8Array(groupCount(m.cols, G)).fill(b),
            hessian: fullH.get(m.name) ?? null,
            hdiag: diags[i]!,
            clip,
            rounder: (p, widths) => codec.represent(p, widths),
            gptq: { actOrder, damp: o.damp },
          });
          const kl = await probe.kl(new Map([[m.name, f32Tensor(m.name, [m.rows, m.cols], dequantizeMatrix(q))]]));
          const proxy = tables[i]![wi]!.reduce((a, v) => a + v, 0);
          factors[i]![wi] = proxy > 0 ? kl / proxy : 0;
        }
        progress('analyse', 0, `${m.name}: sensitivity`);
      }
      scaleOf = (i, wi) => factors[i]![wi]!;
      fullH.clear();
      notes.push(`measured sensitivity: KL of the outputs on ${probe.tokens} calibration tokens, one matrix quantized at a time`);
    }

    // ---------------------------------------------------------------- allocation
    const allocMatrices: AllocMatrix[] = matrices.map((m, i) => ({
      groups: groupCount(m.cols, G),
      errors: tables[i]!.map((t, wi) => Float64Array.from(t, (v) => v * scaleOf(i, wi))),
      groupBits: (g: number, w: Width) => m.rows * codec.groupBitsPerRow(Math.min(G, m.cols - g * G), w),
    }));
    const fixed = minBits - allocMatrices.reduce((a, m) => a + Array.from({ length: m.groups }, (_, g) => m.groupBits(g, o.widths[0]!)).reduce((x, y) => x + y, 0), 0);
    let variable = budget - fixed;
    let best: Allocation | null = null;
    for (let iter = 0; iter < 8; iter++) {
      const a = allocateWidths(allocMatrices, o.widths, Math.max(variable, minBits - fixed));
      const e = exactBits(a.widths);
      if (e <= budget && (!best || a.error < best.error)) best = a;
      if (e === budget) break;
      const next = variable + (budget - e);
      if (Math.abs(next - variable) < 1) break;
      variable = next;
    }
    if (!best) {
      best = allocateWidths(allocMatrices, o.widths, Math.max(variable, minBits - fixed));
      shedUntil(best, (w) => exactBits(w) <= budget);
    }
    const chosen = best.widths;
    progress('allocate', 0, 'widths chosen');

    // ---------------------------------------------------------------- pass 2: quantize
    runner?.reset();
    const blobs = new Map<string, Uint8Array>();
    const reports = new Map<string, TensorReport>();
    let outliersTotal = 0;
    const widthWeights = { '2': 0, '3': 0, '4': 0 };
    const quantized = new Map<string, QuantizedMatrix>();
    // One matrix: quantize it under H, record its blob and report; returns the dequantized weights.
    const quantizeOne = (i: number, m: MatrixInfo, target: Float32Array, full: Float64Array | null, hdiag: Float64Array): Float32Array => {
      const q: QuantizedMatrix = quantizeMatrix(target, m.rows, m.cols, {
        groupSize: G,
        widths: chosen[i]!,
        hessian: full,
        hdiag,
        clip,
        rounder: (p, widths) => codec.represent(p, widths),
        outliers: outlierSlots(m, chosen[i]!) * m.rows,
        outliersPerRow: outlierSlots(m, chosen[i]!),
        gptq: { actOrder, damp: o.damp },
        refit,
      });
      const blob = codec.encode(q);
      blobs.set(m.name, blob);
      if (finetuneEpochs > 0) quantized.set(m.name, q);
      const wq = dequantizeMatrix(q);
      let num = 0;
      let den = 0;
      for (let r = 0; r < m.rows; r++) {
        for (let k = 0; k < m.cols; k++) {
          const x = target[r * m.cols + k]!;
          num += hdiag[k]! * (x - wq[r * m.cols + k]!) ** 2;
          den += hdiag[k]! * x * x;
        }
      }
      const frac = { '2': 0, '3': 0, '4': 0 };
      chosen[i]!.forEach((wd, g) => {
        const colsIn = Math.min(G, m.cols - g * G);
        frac[String(wd) as '2' | '3' | '4'] += colsIn / m.cols;
        widthWeights[String(wd) as '2' | '3' | '4'] += colsIn * m.rows;
      });
      outliersTotal += q.outliers.values.length;
      reports.set(m.name, {
        name: m.name,
        shape: [m.rows, m.cols],
        dtype: 'bx',
        bits_per_weight: (8 * blob.byteLength) / (m.rows * m.cols),
        widths: frac,
        outliers: q.outliers.values.length,
        relative_error: den > 0 ? num / den : 0,
      });
      progress('quantize', m.rows * m.cols, m.name);
      return wq;
    };
    for (let l = 0; l < c.nLayers; l++) {
      const inLayer = [...matrices.entries()].filter(([, m]) => m.layer === l);
      let hess: Record<InputKind, { full: Float64Array | null; diag: Float64Array }> | null = null;
      if (runner) {
        const acc = (await runner.run(l, await layerHost(l), { collect: useGptq ? 'full' : 'diag', advance: !sequential }))!;
        const pack = (a: (typeof acc)['qkv']) => ({ full: useGptq ? a.hessian() : null, diag: a.diagonal() });
        hess = { qkv: pack(acc.qkv), o: pack(acc.o), gateUp: pack(acc.gateUp), down: pack(acc.down) };
        progress('calibrate', layerUnits, `layer ${l}: Hessians`);
      }
      const dequantized = new Map<string, Float32Array>();
      for (const [i, m] of inLayer) {
        const h = hess?.[INPUT_OF[m.kind]];
        const wq = quantizeOne(i, m, await loadF32(m.name), h?.full ?? null, h?.diag ?? new Float64Array(m.cols).fill(1));
        if (sequential) dequantized.set(m.name, wq);
      }
      if (runner && sequential) {
        await runner.run(l, await layerHost(l, dequantized), { advance: true });
        progress('calibrate', layerUnits, `layer ${l}: quantized outputs`);
      }
    }
    runner?.dispose();
    runner = null;

    // ---------------------------------------------------------------- end-to-end fine-tuning
    const tunedDense = new Map<string, Float32Array>();
    if (finetuneEpochs > 0) {
      const want = Math.max(1, Math.floor((options.finetuneTokens ?? FINETUNE_DEFAULT_TOKENS) / seqLen));
      const all = calibrationSequences(calibIds, seqLen, (want + Math.max(1, Math.ceil(want / 8))) * seqLen, source.tokenizer!.bosId);
      if (all.length < 2) notes.push(`fine-tuning skipped: the calibration text holds ${all.length} sequence(s) of ${seqLen} tokens, it needs 2 (training + held-out)`);
      else {
        const nVal = Math.max(1, Math.min(Math.ceil(want / 8), Math.floor(all.length / 5)));
        const train = all.slice(0, all.length - nVal);
        const validation = all.slice(all.length - nVal);
        const untied = source.tensors.has('output.weight') && !source.config.tiedEmbeddings;
        const teacher = await hostModel(c, loadF32, untied);
        // The student shares the teacher's arrays except those it trains or overwrites: its norms (copied),
        // its matrices (dequantized below) and the embedding / LM head as the file will hold them.
        const asStored = (f: Float32Array, dtype: WeightDType) => decodeToF32({ name: '', dtype, shape: [c.vocabSize, c.dim], data: encodeDense(f, dtype, [c.vocabSize, c.dim]) });
        const embedding = asStored(teacher.embedding, denseDType(options.embeddingDType ?? 'q8_0', entry('token_embd.weight').shape));
        const student: HostModelWeights = {
          ...teacher,
          embedding,
          output: untied ? asStored(teacher.output, denseDType(options.outputDType ?? 'q8_0', [c.vocabSize, c.dim])) : embedding,
          outputNorm: Float32Array.from(teacher.outputNorm),
          layers: teacher.layers.map((l) => ({ ...l, attnNorm: Float32Array.from(l.attnNorm), ffnNorm: Float32Array.from(l.ffnNorm) })),
        };
        const list: TunedMatrix[] = [];
        for (const m of matrices) {
          const q = quantized.get(m.name)!;
          const key = MATRIX_KEY[m.kind];
          student.layers[m.layer]![key] = dequantizeMatrix(q);
          list.push({ layer: m.layer, key, q });
        }
        const r = finetuneQuantized(teacher, student, list, {
          train,
          validation,
          epochs: finetuneEpochs,
          lr: finetuneLr,
          batch: 1,
          norms: true,
          codeLr: options.finetuneCodeLr ?? 5e-3,
          signal: options.signal,
          onEpoch: (e) => progress('finetune', layerUnits, `epoch ${e.epoch}: KL ${e.train.toFixed(4)} (train) ${e.validation.toFixed(4)} (held out)`),
        });
        matrices.forEach((m, i) => {
          const q = list[i]!.q;
          const p = codec.represent({ rows: q.rows, groups: q.widths.length, scales: r.scales[i]!, zeros: q.zeros }, q.widths);
          blobs.set(m.name, codec.encode({ ...q, codes: r.codes[i]!, scales: p.scales, zeros: p.zeros, secondOrder: p.secondOrder }));
        });
        r.layerNorms.forEach((n, l) => {
          tunedDense.set(`blk.${l}.attn_norm.weight`, n.attnNorm);
          tunedDense.set(`blk.${l}.ffn_norm.weight`, n.ffnNorm);
        });
        tunedDense.set('output_norm.weight', r.outputNorm);
        notes.push(
          `fine-tuned scales and norms (${r.keptEpoch} of ${finetuneEpochs} epochs kept, ${train.length * seqLen} tokens): KL to the original ${r.before.toFixed(4)} → ${r.after.toFixed(4)} nats/token on ${validation.length * seqLen} held-out calibration tokens`,
        );
      }
      quantized.clear();
    }

    // ---------------------------------------------------------------- write
    const embDType = denseDType(options.embeddingDType ?? 'q8_0', entry('token_embd.weight').shape);
    const hasOutput = source.tensors.has('output.weight') && !source.config.tiedEmbeddings;
    const outDType = hasOutput ? denseDType(options.outputDType ?? 'q8_0', entry('output.weight').shape) : null;
    const tensors: GgufTensorSpec[] = [...header.extraTensors];
    const names = [...source.tensors.keys()];
    const order = ['token_embd.weight', 'output_norm.weight', ...(hasOutput ? ['output.weight'] : [])];
    for (let l = 0; l < c.nLayers; l++) for (const n of names) if (n.startsWith(`blk.${l}.`)) order.push(n);
    let fileBytes = 0;
    let fileParams = 0;
    for (const name of order) {
      const e = entry(name);
      const params = e.shape.reduce((a, b) => a * b, 1);
      fileParams += params;
      const blob = blobs.get(name);
      if (blob) {
        tensors.push({ name, dtype: 'bx', shape: [...e.shape], data: blob });
        fileBytes += blob.byteLength;
        continue;
      }
      const dtype: WeightDType = name === 'token_embd.weight' ? embDType : name === 'output.weight' ? outDType! : 'f32';
      const shape = [...e.shape];
      const bytes = dtype === 'f32' ? params * 4 : dtype === 'f16' ? params * 2 : (params / 32) * 34;
      fileBytes += bytes;
      reports.set(name, { name, shape, dtype, bits_per_weight: (8 * bytes) / params });
      tensors.push({ name, dtype, shape, data: async () => encodeDense(tunedDense.get(name) ?? (await loadF32(name)), dtype, shape) });
    }
    // An EAGLE draft head stored beside the model (`eagle.*`, `bitexit.eagle.*`) travels as stored:
    // SpecEE's drafter reads it from the quantized file as from the original.
    const draftMeta: Array<[string, GgufMetadataValue]> = [];
    if (source.format === 'gguf') {
      // The model loader ignores tensors it does not run, so read them from the file itself.
      const { openFileSource } = await import('@bitexit/format/node');
      const src = await openFileSource(source.path);
      try {
        const g = await readGguf(src);
        for (const [k, v] of g.metadata) if (k.startsWith('bitexit.eagle.')) draftMeta.push([k, v]);
        for (const info of g.tensors) {
          if (!info.name.startsWith('eagle.')) continue;
          const t = await g.readTensor(info);
          tensors.push({ name: info.name, dtype: t.dtype, shape: [...t.shape], data: t.data });
          const params = t.shape.reduce((a, b) => a * b, 1);
          fileBytes += t.data.byteLength;
          fileParams += params;
          reports.set(info.name, { name: info.name, shape: [...t.shape], dtype: t.dtype, bits_per_weight: (8 * t.data.byteLength) / params });
        }
      } finally {
        await src.close?.();
      }
    }
    const matrixBytes = [...blobs.values()].reduce((a, b) => a + b.byteLength, 0);
    const settings: QuantizeReport['settings'] = {
      bits: o.bits,
      widths: o.widths,
      groupSize: G,
      outlierFraction: o.outlierFraction,
      calibrated,
      calibrationTokens,
      gptq: useGptq,
      actOrder,
      refit,
      sequential,
      secondOrder: codec.o.secondOrder,
      clip,
      sensitivity,
      finetuneEpochs,
      embedding: embDType,
      output: outDType ?? 'tied',
      norms: 'f32',
    };
    const u32 = ggufValue.uint32;
    const f32 = ggufValue.float32;
    const quantMeta: Array<[string, GgufMetadataValue]> = [
      ['bitexit.quant.version', u32(1)],
      ['bitexit.quant.method', ggufValue.string('bx-mixed: 2/3/4-bit column groups, global Hessian-weighted allocation')],
      ['bitexit.quant.bits_target', f32(o.bits)],
      ['bitexit.quant.bits_per_weight', f32((8 * matrixBytes) / totalWeights)],
      ['bitexit.quant.widths', ggufValue.string(o.widths.join(','))],
      ['bitexit.quant.group_size', u32(G)],
      ['bitexit.quant.outlier_fraction', f32(o.outlierFraction)],
      ['bitexit.quant.second_order', ggufValue.bool(settings.secondOrder)],
      ['bitexit.quant.clip', ggufValue.bool(clip)],
      ['bitexit.quant.gptq', ggufValue.bool(useGptq)],
      ['bitexit.quant.act_order', ggufValue.bool(actOrder)],
      ['bitexit.quant.refit', u32(refit)],
      ['bitexit.quant.sensitivity', ggufValue.string(sensitivity)],
      ['bitexit.quant.calibration_tokens', u32(calibrationTokens)],
      ['bitexit.quant.finetune_epochs', u32(finetuneEpochs)],
      ['bitexit.quant.embedding_type', ggufValue.string(embDType)],
      ['bitexit.quant.output_type', ggufValue.string(outDType ?? 'tied')],
    ];
    let sink: ByteSink;
    if (typeof output === 'string') {
      const { createFileSink } = await import('@bitexit/format/node');
      sink = await createFileSink(output);
    } else sink = output;
    await writeGguf(sink, { version: 3, metadata: [...header.metadata, ...quantMeta, ...draftMeta], tensors });
    progress('write', layerUnits, 'written');

    const tw = totalWeights || 1;
    return {
      bits_per_weight: { matrices: (8 * matrixBytes) / tw, file: (8 * fileBytes) / fileParams },
      width_fractions: { '2': widthWeights['2'] / tw, '3': widthWeights['3'] / tw, '4': widthWeights['4'] / tw },
      outliers: { count: outliersTotal, fraction: outliersTotal / tw },
      per_tensor: order.map((n) => reports.get(n)!).filter(Boolean),
      seconds: (performance.now() - t0) / 1000,
      settings,
      notes,
    };
  } finally {
    if (ownsBackend) await backend?.dispose();
    if (typeof input === 'string') await source.close();
  }
}

