/**
 * SpecEE ops (exit_check, guarded regions, exit_record, attention's `mask`
 * policy) against the float64 oracle. A backend that does not list these ops
 * skips them with a printed note (it can still run every full-depth program,
 * but not early exit).
 */
import { EXIT_OP_KINDS, type DeviceBuffer, type DeviceWeight, type Program } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import type { Register, TestEnv } from '../context.js';
import { Harness } from '../harness.js';
import { Rng } from '../random.js';
import { exitCheck } from '../oracle/exit.js';
import { decodeWeight, encodeWeight } from '../weights.js';

const noted = new Set<string>();

function requireExitOps(env: TestEnv): void {
  const missing = EXIT_OP_KINDS.filter((k) => !env.backend.capabilities.ops.includes(k));
  if (missing.length === 0) return;
  const note = `[conformance:${env.backend.capabilities.name}] no early-exit ops (${missing.join(', ')}): SpecEE tests skipped`;
  if (!noted.has(note)) {
    noted.add(note);
    console.warn(note);
  }
  env.ctx.skip(note);
}

interface ExitSetup {
  x: DeviceBuffer;
  drafts: DeviceBuffer;
  probs: DeviceBuffer;
  active: DeviceBuffer;
  logits: DeviceBuffer;
  exit: DeviceBuffer;
  op: (layer: number, threshold: number) => Extract<Program['ops'][number], { kind: 'exit_check' }>;
  /** The oracle's view of the op's inputs, to pick drafts and thresholds before running. */
  score: (xRow: Float32Array, draftIds: number[], prev: number[], threshold?: number) => ReturnType<typeof exitCheck>;
}

const DIM = 64;
const VOCAB = 67;
const K = 4;
const HIDDEN = 32;
const LAYERS = 4;
const ROWS = 3;

async function setup(h: Harness, rng: Rng, headDType: WeightDType, downBias: number): Promise<ExitSetup> {
  const weight = async (name: string, dtype: WeightDType, shape: number[], values: Float32Array) => {
    const w = await h.weight(name, dtype, shape, values);
    return { w, values: decodeWeight(encodeWeight(name, dtype, shape, values)) };
  };
  const norm = await weight('output_norm', 'f32', [DIM], rng.f32(DIM, 0.7, 1.3));
  const head = await weight('lm_head', headDType, [VOCAB, DIM], rng.f32(VOCAB * DIM, -1, 1));
  const up = await weight('pred.up', 'f32', [HIDDEN, 3 * K], rng.f32(HIDDEN * 3 * K, -0.5, 0.5));
  const upBias = await weight('pred.up_bias', 'f32', [HIDDEN], rng.f32(HIDDEN, -0.2, 0.2));
  const down = await weight('pred.down', 'f32', [1, HIDDEN], rng.f32(HIDDEN, -0.5, 0.5));
  const downB = await weight('pred.down_bias', 'f32', [1], Float32Array.of(downBias));
  const x = h.buffer('f32', ROWS, DIM, 'x');
  const drafts = h.buffer('i32', 1, K, 'drafts');
  const probs = h.buffer('f32', 1, K, 'probs');
  const active = h.buffer('i32', 1, LAYERS, 'active');
  const logits = h.buffer('f32', 1, VOCAB, 'logits');
  const exit = h.buffer('i32', 1, 2, 'exit');
  const w = (v: { w: DeviceWeight }) => v.w;
  return {
    x,
    drafts,
    probs,
    active,
    logits,
    exit,
    op: (layer, threshold) => ({
      kind: 'exit_check',
      x,
      norm: w(norm),
      eps: 1e-5,
      lmHead: w(head),
      drafts,
      probs,
      active,
      up: w(up),
      upBias: w(upBias),
      down: w(down),
      downBias: w(downB),
      threshold,
      layer,
      logits,
      exit,
    }),
    score: (xRow, draftIds, prev, threshold = -1) =>
      exitCheck(xRow, 0, DIM, norm.values, 1e-5, head.values, VOCAB, draftIds, prev, up.values, upBias.values, down.values, downBias, threshold, 0),
  };
}

/** Inputs that reset a step's SpecEE state: drafts, zero probs, every layer active, exit = (-1, -1). */
function stepInputs(s: ExitSetup, x: Float32Array, draftIds: number[], activeMask = [1, 1, 1, 1]) {
  return [
    { buffer: s.x, data: x },
    { buffer: s.drafts, data: Int32Array.from(draftIds) },
    { buffer: s.probs, data: new Float32Array(K) },
    { buffer: s.active, data: Int32Array.from(activeMask) },
    { buffer: s.exit, data: Int32Array.of(-1, -1) },
  ];
}

async function withHarness(env: TestEnv, fn: (h: Harness) => Promise<void>): Promise<void> {
  requireExitOps(env);
  const h = new Harness(env.backend, (k) => env.tolerance.op(k));
  try {
    await fn(h);
  } finally {
    h.release();
  }
}

/** Draft ids: the true argmax at `rank` (or absent when rank < 0), the rest distinct other tokens. */
function draftsAround(argmax: number, rank: number, rng: Rng): number[] {
  const ids: number[] = [];
  while (ids.length < K) {
    const id = rng.int(0, VOCAB);
    if (id !== argmax && !ids.includes(id)) ids.push(id);
  }
  if (rank >= 0) ids[rank] = argmax;
  return ids;
}

function argmaxOf(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

export function defineExitTests(test: Register): void {
  for (const dtype of ['f32', 'f16', 'q8_0', 'bx'] as WeightDType[]) {
    for (const c of [
      { name: 'fires-and-exits', rank: 1, downBias: 30 },
      { name: 'fires-argmax-not-drafted', rank: -1, downBias: 30 },
      { name: 'below-threshold', rank: 0, downBias: -30 },
    ]) {
      const id = `exit/check/${dtype}/${c.name}`;
      test(id, async (env) => {
        env.requireDType(dtype);
        await withHarness(env, async (h) => {
          const rng = new Rng(id);
          const s = await setup(h, rng, dtype, c.downBias);
          const n = 2; // the check reads the last active row
          const xs = rng.f32(ROWS * DIM, -2, 2);
          const full = s.score(xs.subarray((n - 1) * DIM, n * DIM), [0, 1, 2, 3], [0, 0, 0, 0]);
          const top = argmaxOf(full.logits!);
          const draftIds = draftsAround(top, c.rank, rng);
          h.write(s.logits, new Float32Array(VOCAB).fill(7.5)); // untouched unless the predictor fires
          const program: Program = {
            label: id,
            maxRows: ROWS,
            ops: [s.op(2, 0.5)],
            outputs: [
              { buffer: s.exit, rows: 1 },
              { buffer: s.probs, rows: 1 },
              { buffer: s.logits, rows: 1 },
            ],
          };
          const got = await h.check(program, { pos: 0, n, inputs: stepInputs(s, xs, draftIds) }, 'matmul');
          const exit = Array.from(got[0]!);
          const want = c.name === 'fires-and-exits' ? [top, 2] : [-1, -1];
          if (String(exit) !== String(want)) throw new Error(`exit = (${exit}), expected (${want})`);
        });
      });
    }
  }

  test('exit/check/skips-when-inactive-or-already-exited', async (env) => {
    await withHarness(env, async (h) => {
      const rng = new Rng('exit-skip');
      const s = await setup(h, rng, 'f32', 30);
      const xs = rng.f32(ROWS * DIM, -2, 2);
      const program: Program = {
        label: 'exit-skip',
        maxRows: 1,
        ops: [s.op(1, 0.5)],
        outputs: [
          { buffer: s.exit, rows: 1 },
          { buffer: s.probs, rows: 1 },
        ],
      };
      const compiled = h.compile(program);
      const prev = Float32Array.of(0.1, 0.2, 0.3, 0.4);
      // Layer 1 inactive: nothing changes.
      const inactive = [...stepInputs(s, xs, [0, 1, 2, 3], [1, 0, 1, 1]), { buffer: s.probs, data: prev }];
      let got = await h.check(program, { pos: 0, n: 1, inputs: inactive }, 'matmul', compiled);
      if (String(Array.from(got[0]!)) !== '-1,-1') throw new Error(`an inactive layer changed exit to (${Array.from(got[0]!)})`);
      // Already exited at layer 0: nothing changes.
      const exited = [...stepInputs(s, xs, [0, 1, 2, 3]), { buffer: s.probs, data: prev }, { buffer: s.exit, data: Int32Array.of(5, 0) }];
      got = await h.check(program, { pos: 0, n: 1, inputs: exited }, 'matmul', compiled);
      if (String(Array.from(got[0]!)) !== '5,0') throw new Error(`a check after an exit changed exit to (${Array.from(got[0]!)})`);
    });
  });

  // The predictor's score decides: thresholds just below and just above the oracle's score. Two checks
  // on the same row (layers 0 and 2): the second one's softmax-change features are zero only if the
  // first one stored its softmax in probs, so its score also tests that state.
  for (const side of ['below', 'above'] as const) {
    const id = `exit/check/predictor-score-threshold-${side}`;
    test(id, async (env) => {
      await withHarness(env, async (h) => {
        const rng = new Rng(id);
        const s = await setup(h, rng, 'f32', 0);
        const xs = rng.f32(ROWS * DIM, -2, 2);
        const row = xs.subarray(0, DIM);
        const top = argmaxOf(s.score(row, [0, 1, 2, 3], [0, 0, 0, 0]).logits!);
        const draftIds = draftsAround(top, 3, rng);
        const at0 = s.score(row, draftIds, [0, 0, 0, 0]);
        const at2 = s.score(row, draftIds, Array.from(at0.probs));
        const margin = env.backend.capabilities.floatPrecision === 32 ? 1e-4 : 1e-2;
        if (Math.abs(at0.score - at2.score) < 4 * margin) throw new Error('test setup: the two layers need distinguishable scores');
        const program: Program = {
          label: id,
          maxRows: 1,
          ops: [s.op(0, at0.score + margin), s.op(2, side === 'below' ? at2.score - margin : at2.score + margin)],
          outputs: [
            { buffer: s.exit, rows: 1 },
            { buffer: s.probs, rows: 1 },
          ],
        };
        const got = await h.check(program, { pos: 0, n: 1, inputs: stepInputs(s, xs, draftIds) }, 'matmul');
        const want = side === 'below' ? [top, 2] : [-1, -1];
        if (String(Array.from(got[0]!)) !== String(want)) throw new Error(`exit = (${Array.from(got[0]!)}), expected (${want})`);
      });
    });
  }

  test('exit/guard/running-region-skips-after-exit', async (env) => {
    await withHarness(env, async (h) => {
      const rng = new Rng('guard-running');
      const s = await setup(h, rng, 'f32', 30);
      const xs = rng.f32(ROWS * DIM, -2, 2);
      const top = argmaxOf(s.score(xs.subarray(0, DIM), [0, 1, 2, 3], [0, 0, 0, 0]).logits!);
      const a = h.buffer('f32', 1, 8, 'a');
      const out = h.buffer('f32', 1, 8, 'out');
      const record = h.buffer('i32', 16, 1, 'exit_layers');
      h.write(a, rng.f32(8));
      const program: Program = {
        label: 'guard-running',
        maxRows: 1,
        ops: [
          { kind: 'add', a, b: a, out }, // out = 2a before the region
          s.op(0, 0.5),
          { kind: 'guard_begin', exit: s.exit, runIf: 'running' },
          { kind: 'add', a: out, b: a, out }, // out += a, only while running
          s.op(1, 0.5),
          { kind: 'add', a: out, b: a, out },
          { kind: 'guard_end' },
          { kind: 'exit_record', exit: s.exit, exitLayers: record, lastLayer: 3 },
        ],
        outputs: [
          { buffer: out, rows: 1 },
          { buffer: s.exit, rows: 1 },
        ],
      };
      const compiled = h.compile(program);
      // Exit at layer 0: nothing in the region runs; the record says layer 0.
      let got = await h.check(program, { pos: 3, n: 1, inputs: stepInputs(s, xs, draftsAround(top, 0, rng)) }, 'add', compiled);
      if (String(Array.from(got[1]!)) !== `${top},0`) throw new Error(`exit = (${Array.from(got[1]!)}), expected (${top},0)`);
      // No exit (argmax not drafted): both adds run; the record says the last layer.
      got = await h.check(program, { pos: 4, n: 1, inputs: stepInputs(s, xs, draftsAround(top, -1, rng)) }, 'add', compiled);
      if (String(Array.from(got[1]!)) !== '-1,-1') throw new Error(`exit = (${Array.from(got[1]!)}), expected none`);
      // Layer 0 inactive, layer 1 exits: the first add in the region runs, the second does not.
      got = await h.check(program, { pos: 5, n: 1, inputs: stepInputs(s, xs, draftsAround(top, 2, rng), [0, 1, 1, 1]) }, 'add', compiled);
      if (String(Array.from(got[1]!)) !== `${top},1`) throw new Error(`exit = (${Array.from(got[1]!)}), expected (${top},1)`);
      await h.checkBuffer(record, 'add');
    });
  });

  test('exit/guard/exited-before-region', async (env) => {
    await withHarness(env, async (h) => {
      const rng = new Rng('guard-before');
      const exit = h.buffer('i32', 1, 2, 'exit');
      const a = h.buffer('f32', 1, 8, 'a');
      const out = h.buffer('f32', 1, 8, 'out');
      h.write(a, rng.f32(8));
      const program: Program = {
        label: 'guard-before',
        maxRows: 1,
        ops: [
          { kind: 'guard_begin', exit, runIf: 'exited_before', layer: 2 },
          { kind: 'add', a: out, b: a, out },
          { kind: 'guard_end' },
        ],
        outputs: [{ buffer: out, rows: 1 }],
      };
      const compiled = h.compile(program);
      for (const state of [
        [-1, -1], // running: no
        [3, 1], // exited at 1 < 2: yes
        [3, 2], // exited at 2: no
        [3, 0], // exited at 0: yes
      ]) {
        await h.check(program, { pos: 0, n: 1, inputs: [{ buffer: exit, data: Int32Array.from(state) }] }, 'add', compiled);
      }
    });
  });

  test('exit/attention/mask-policy', async (env) => {
    await withHarness(env, async (h) => {
      const rng = new Rng('attention-mask');
      const heads = 4;
      const kvHeads = 2;
      const headDim = 8;
      const ctx = 12;
      const q = h.buffer('f32', 2, heads * headDim, 'q');
      const out = h.buffer('f32', 2, heads * headDim, 'out');
      const kCache = h.buffer('f32', ctx, kvHeads * headDim, 'k_cache');
      const vCache = h.buffer('f32', ctx, kvHeads * headDim, 'v_cache');
      const record = h.buffer('i32', ctx, 1, 'exit_layers');
      h.write(q, rng.f32(2 * heads * headDim, -2, 2));
      h.write(kCache, rng.f32(ctx * kvHeads * headDim, -2, 2));
      h.write(vCache, rng.f32(ctx * kvHeads * headDim, -2, 2));
      // Positions 0..6 exited at various layers; 7 and 8 are the current step (stale values must not mask them).
      h.write(record, Int32Array.from([3, 0, 2, 1, 3, 0, 2, 0, 0, 0, 0, 0]));
      for (const layer of [0, 2, 3]) {
        const program: Program = {
          label: `attention-mask-layer${layer}`,
          maxRows: 2,
          ops: [{ kind: 'attention', q, kCache, vCache, out, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim), exitLayers: record, layer }],
          outputs: [{ buffer: out, rows: 'active' }],
        };
        await h.check(program, { pos: 7, n: 2 }, 'attention');
      }
    });
  });
}
