/**
 * One test per (op, shape, dtype, edge case): a tiny program with that op,
 * random inputs from a seeded generator, compared with the float64 oracle.
 * Output buffers are pre-filled with a sentinel so writes to rows >= n (which
 * the IR forbids) show up when the whole buffer is compared.
 */
import type { DeviceBuffer, OpKind, Program, RopeStyle, SamplingParams } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import type { Register, TestEnv } from '../context.js';
import { Harness } from '../harness.js';
import { Rng } from '../random.js';
import { ropeInvFreq } from '../oracle/rope.js';
import { argmax } from '../oracle/rows.js';
import { sample, sampleDistribution } from '../oracle/sample.js';

const SENTINEL = 12345.5;

function sentinel(count: number): Float32Array {
  return new Float32Array(count).fill(SENTINEL);
}

/** Runs `fn` with a fresh harness and releases everything it created. `_kind` names the op under test. */
async function withHarness(env: TestEnv, _kind: OpKind, fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = new Harness(env.backend, (k) => env.tolerance.op(k));
  try {
    await fn(h);
  } finally {
    h.release();
  }
}

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, historyLength: 0, uniform: 0.5 };

export function defineOpTests(test: Register): void {
  // ---------------------------------------------------------------- embed
  const embedCases: { dtype: WeightDType; vocab: number; dim: number; n: number }[] = [];
  for (const dtype of ['f32', 'f16', 'bf16'] as WeightDType[]) {
    embedCases.push({ dtype, vocab: 1, dim: 1, n: 1 }, { dtype, vocab: 17, dim: 3, n: 4 }, { dtype, vocab: 173, dim: 64, n: 1 }, { dtype, vocab: 5, dim: 173, n: 7 });
  }
  embedCases.push({ dtype: 'q8_0', vocab: 17, dim: 32, n: 3 }, { dtype: 'q8_0', vocab: 3, dim: 96, n: 1 }, { dtype: 'q8_0', vocab: 64, dim: 64, n: 7 });
  embedCases.push({ dtype: 'bx', vocab: 17, dim: 100, n: 3 }, { dtype: 'bx', vocab: 5, dim: 173, n: 7 });
  for (const c of embedCases) {
    const id = `op/embed/${c.dtype}/vocab${c.vocab}-dim${c.dim}-n${c.n}`;
    test(id, async (env) => {
      env.requireDType(c.dtype);
      await withHarness(env, 'embed', async (h) => {
        const rng = new Rng(id);
        const maxRows = c.n + 1;
        const table = await h.weight('table', c.dtype, [c.vocab, c.dim], rng.f32(c.vocab * c.dim, -2, 2));
        const ids = h.buffer('i32', maxRows, 1, 'ids');
        const out = h.buffer('f32', maxRows, c.dim, 'out');
        h.write(out, sentinel(maxRows * c.dim));
        // First and last vocabulary rows and a repeat are always included.
        const idData = Int32Array.from({ length: c.n }, (_, t) => (t === 0 ? c.vocab - 1 : t === 1 ? 0 : t === 2 ? c.vocab - 1 : rng.int(0, c.vocab)));
        const program: Program = { label: id, maxRows, ops: [{ kind: 'embed', table, ids, out }], outputs: [{ buffer: out, rows: 'active' }] };
        await h.check(program, { pos: 0, n: c.n, inputs: [{ buffer: ids, data: idData }] }, 'embed');
        await h.checkBuffer(out, 'embed');
      });
    });
  }

  // -------------------------------------------------------------- rmsnorm
  const rmsCases: { dtype: WeightDType; cols: number; n: number; eps: number; scale: number; tag?: string; rows?: number }[] = [];
  for (const cols of [1, 3, 17, 64, 173]) {
    rmsCases.push({ dtype: 'f32', cols, n: 1, eps: 1e-5, scale: 1 }, { dtype: 'f32', cols, n: 4, eps: 1e-6, scale: 1 });
  }
  rmsCases.push(
    { dtype: 'f16', cols: 17, n: 3, eps: 1e-5, scale: 1 },
    { dtype: 'bf16', cols: 64, n: 2, eps: 1e-5, scale: 1 },
    { dtype: 'f32', cols: 64, n: 2, eps: 1e-5, scale: 1e4, tag: 'large' },
    { dtype: 'f32', cols: 33, n: 2, eps: 1e-5, scale: 1e-3, tag: 'tiny-eps-dominates' },
    { dtype: 'f32', cols: 17, n: 4, eps: 1e-5, scale: 1, rows: 1, tag: 'fixed-rows1' },
    { dtype: 'f32', cols: 17, n: 1, eps: 1e-5, scale: 1, rows: 3, tag: 'fixed-rows3' },
  );
  for (const c of rmsCases) {
    const id = `op/rmsnorm/${c.dtype}/cols${c.cols}-n${c.n}-eps${c.eps}${c.tag ? `-${c.tag}` : ''}`;
    test(id, async (env) => {
      env.requireDType(c.dtype);
      await withHarness(env, 'rmsnorm', async (h) => {
        const rng = new Rng(id);
        const maxRows = c.n + 2;
        const weight = await h.weight('norm', c.dtype, [c.cols], rng.f32(c.cols, 0.5, 1.5));
        const x = h.buffer('f32', maxRows, c.cols, 'x');
        const out = h.buffer('f32', maxRows, c.cols, 'out');
        h.write(x, rng.f32(maxRows * c.cols, -c.scale, c.scale));
        h.write(out, sentinel(maxRows * c.cols));
        const program: Program = {
          label: id,
          maxRows,
          ops: [{ kind: 'rmsnorm', x, weight, eps: c.eps, out, ...(c.rows ? { rows: c.rows } : {}) }],
          outputs: [{ buffer: out, rows: 'active' }],
        };
        await h.check(program, { pos: 0, n: c.n }, 'rmsnorm');
        await h.checkBuffer(out, 'rmsnorm');
      });
    });
  }

  // --------------------------------------------------------------- matmul
  const mmCases: { dtype: WeightDType; n: number; out: number; k: number; bias: boolean; scale?: number; rows?: number }[] = [];
  for (const dtype of ['f32', 'f16', 'bf16'] as WeightDType[]) {
    mmCases.push(
      { dtype, n: 1, out: 1, k: 1, bias: false },
      { dtype, n: 3, out: 5, k: 17, bias: true },
      { dtype, n: 1, out: 17, k: 64, bias: false },
      { dtype, n: 5, out: 173, k: 3, bias: false },
      { dtype, n: 2, out: 64, k: 173, bias: true },
    );
  }
  mmCases.push(
    { dtype: 'f32', n: 7, out: 31, k: 33, bias: false },
    { dtype: 'f32', n: 1, out: 9, k: 257, bias: true, scale: 1000 },
    { dtype: 'q8_0', n: 1, out: 1, k: 32, bias: false },
    { dtype: 'q8_0', n: 3, out: 17, k: 64, bias: true },
    { dtype: 'q8_0', n: 5, out: 173, k: 96, bias: false },
    { dtype: 'q8_0', n: 2, out: 3, k: 256, bias: false },
    { dtype: 'bx', n: 1, out: 17, k: 64, bias: false },
    { dtype: 'bx', n: 3, out: 5, k: 100, bias: true },
    { dtype: 'bx', n: 1, out: 173, k: 96, bias: true },
    { dtype: 'bx', n: 5, out: 173, k: 96, bias: false },
    { dtype: 'bx', n: 2, out: 64, k: 173, bias: true },
    { dtype: 'f32', n: 5, out: 19, k: 24, bias: true, rows: 1 },
    { dtype: 'f16', n: 1, out: 19, k: 24, bias: false, rows: 4 },
  );
  for (const c of mmCases) {
    const id = `op/matmul/${c.dtype}/n${c.n}-out${c.out}-k${c.k}${c.bias ? '-bias' : ''}${c.scale ? `-x${c.scale}` : ''}${c.rows ? `-fixed-rows${c.rows}` : ''}`;
    test(id, async (env) => {
      env.requireDType(c.dtype);
      await withHarness(env, 'matmul', async (h) => {
        const rng = new Rng(id);
        const maxRows = Math.max(c.n, c.rows ?? 0) + 1;
        const weight = await h.weight('w', c.dtype, [c.out, c.k], rng.f32(c.out * c.k));
        const bias = c.bias ? await h.weight('b', 'f32', [c.out], rng.f32(c.out)) : undefined;
        const x = h.buffer('f32', maxRows, c.k, 'x');
        const out = h.buffer('f32', maxRows, c.out, 'out');
        const s = c.scale ?? 1;
        h.write(x, rng.f32(maxRows * c.k, -s, s));
        h.write(out, sentinel(maxRows * c.out));
        const program: Program = {
          label: id,
          maxRows,
          ops: [{ kind: 'matmul', x, weight, ...(bias ? { bias } : {}), out, ...(c.rows ? { rows: c.rows } : {}) }],
          outputs: [{ buffer: out, rows: 'active' }],
        };
        await h.check(program, { pos: 0, n: c.n }, 'matmul');
        await h.checkBuffer(out, 'matmul');
      });
    });
  }
  test('op/matmul/f16/bias-f16', async (env) => {
    env.requireDType('f16');
    await withHarness(env, 'matmul', async (h) => {
      const rng = new Rng('mm-bias-f16');
      const weight = await h.weight('w', 'f16', [19, 40], rng.f32(19 * 40));
      const bias = await h.weight('b', 'f16', [19], rng.f32(19));
      const x = h.buffer('f32', 2, 40, 'x');
      const out = h.buffer('f32', 2, 19, 'out');
      h.write(x, rng.f32(80));
      const program: Program = { label: 'mm-bias-f16', maxRows: 2, ops: [{ kind: 'matmul', x, weight, bias, out }], outputs: [{ buffer: out, rows: 'active' }] };
      await h.check(program, { pos: 0, n: 2 }, 'matmul');
    });
  });

  // ----------------------------------------------------------------- rope
  const ropeCases: { style: RopeStyle; heads: number; headDim: number; ropeDim: number; n: number; pos: number }[] = [];
  for (const style of ['adjacent', 'half'] as RopeStyle[]) {
    ropeCases.push(
      { style, heads: 1, headDim: 2, ropeDim: 2, n: 1, pos: 0 },
      { style, heads: 3, headDim: 8, ropeDim: 8, n: 4, pos: 0 },
      { style, heads: 2, headDim: 16, ropeDim: 8, n: 3, pos: 5 },
      { style, heads: 4, headDim: 64, ropeDim: 64, n: 1, pos: 250 },
      { style, heads: 1, headDim: 6, ropeDim: 2, n: 5, pos: 17 },
      { style, heads: 2, headDim: 64, ropeDim: 32, n: 2, pos: 1 },
    );
  }
  for (const c of ropeCases) {
    const id = `op/rope/${c.style}/heads${c.heads}-hd${c.headDim}-rd${c.ropeDim}-n${c.n}-pos${c.pos}`;
    test(id, async (env) => {
      await withHarness(env, 'rope', async (h) => {
        const rng = new Rng(id);
        const maxRows = c.n + 1;
        const width = c.heads * c.headDim;
        const x = h.buffer('f32', maxRows, width, 'x');
        h.write(x, rng.f32(maxRows * width));
        const program: Program = {
          label: id,
          maxRows,
          ops: [{ kind: 'rope', x, heads: c.heads, headDim: c.headDim, ropeDim: c.ropeDim, style: c.style, invFreq: ropeInvFreq(c.ropeDim, c.ropeDim === 2 ? 500000 : 10000) }],
          outputs: [{ buffer: x, rows: 'active' }],
        };
        await h.check(program, { pos: c.pos, n: c.n }, 'rope');
        await h.checkBuffer(x, 'rope');
      });
    });
  }

  // ------------------------------------------------------------- kv_store
  for (const c of [
    { kvDim: 1, ctx: 3, n: 1, pos: 0 },
    { kvDim: 3, ctx: 12, n: 4, pos: 0 },
    { kvDim: 16, ctx: 12, n: 1, pos: 11 },
    { kvDim: 24, ctx: 20, n: 5, pos: 7 },
  ]) {
    const id = `op/kv_store/kv${c.kvDim}-ctx${c.ctx}-n${c.n}-pos${c.pos}`;
    test(id, async (env) => {
      await withHarness(env, 'kv_store', async (h) => {
        const rng = new Rng(id);
        const maxRows = c.n + 1;
        const k = h.buffer('f32', maxRows, c.kvDim, 'k');
        const v = h.buffer('f32', maxRows, c.kvDim, 'v');
        const kCache = h.buffer('f32', c.ctx, c.kvDim, 'kCache');
        const vCache = h.buffer('f32', c.ctx, c.kvDim, 'vCache');
        h.write(k, rng.f32(maxRows * c.kvDim));
        h.write(v, rng.f32(maxRows * c.kvDim));
        h.write(kCache, sentinel(c.ctx * c.kvDim));
        h.write(vCache, rng.f32(c.ctx * c.kvDim, 5, 6));
        const program: Program = { label: id, maxRows, ops: [{ kind: 'kv_store', k, v, kCache, vCache }], outputs: [{ buffer: kCache, rows: c.ctx }] };
        await h.check(program, { pos: c.pos, n: c.n }, 'kv_store');
        await h.checkBuffer(vCache, 'kv_store');
      });
    });
  }

  // ------------------------------------------------------------ attention
  const attCases: { heads: number; kvHeads: number; headDim: number; n: number; pos: number; mag?: number }[] = [
    { heads: 1, kvHeads: 1, headDim: 1, n: 1, pos: 0 },
    { heads: 1, kvHeads: 1, headDim: 8, n: 1, pos: 0 },
    { heads: 2, kvHeads: 2, headDim: 8, n: 5, pos: 0 },
    { heads: 3, kvHeads: 3, headDim: 17, n: 1, pos: 9 },
    { heads: 4, kvHeads: 2, headDim: 8, n: 3, pos: 6 },
    { heads: 4, kvHeads: 2, headDim: 16, n: 1, pos: 0 },
    { heads: 8, kvHeads: 2, headDim: 8, n: 4, pos: 2 },
    { heads: 8, kvHeads: 2, headDim: 64, n: 1, pos: 40 },
    { heads: 4, kvHeads: 1, headDim: 6, n: 2, pos: 13 },
    { heads: 8, kvHeads: 4, headDim: 8, n: 5, pos: 20 },
    { heads: 2, kvHeads: 1, headDim: 16, n: 3, pos: 4, mag: 12 },
    { heads: 4, kvHeads: 4, headDim: 32, n: 2, pos: 30, mag: 6 },
  ];
  for (const c of attCases) {
    const id = `op/attention/gqa${c.heads / c.kvHeads}/h${c.heads}-kv${c.kvHeads}-hd${c.headDim}-n${c.n}-pos${c.pos}${c.mag ? `-large${c.mag}` : ''}`;
    test(id, async (env) => {
      await withHarness(env, 'attention', async (h) => {
        const rng = new Rng(id);
        const maxRows = c.n + 1;
        const ctx = c.pos + c.n + 3;
        const qw = c.heads * c.headDim;
        const kvw = c.kvHeads * c.headDim;
        const mag = c.mag ?? 1;
        const q = h.buffer('f32', maxRows, qw, 'q');
        const kCache = h.buffer('f32', ctx, kvw, 'kCache');
        const vCache = h.buffer('f32', ctx, kvw, 'vCache');
        const out = h.buffer('f32', maxRows, qw, 'out');
        h.write(q, rng.f32(maxRows * qw, -mag, mag));
        h.write(kCache, rng.f32(ctx * kvw, -mag, mag));
        h.write(vCache, rng.f32(ctx * kvw));
        h.write(out, sentinel(maxRows * qw));
        const program: Program = {
          label: id,
          maxRows,
          ops: [{ kind: 'attention', q, kCache, vCache, out, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim) }],
          outputs: [{ buffer: out, rows: 'active' }],
        };
        const [got] = await h.check(program, { pos: c.pos, n: c.n }, 'attention');
        if (!got.every((v) => Number.isFinite(v))) throw new Error(`${id}: non-finite output`);
        await h.checkBuffer(out, 'attention');
      });
    });
  }
  // Rows of the cache past pos+t must not leak into row t (causality): poison them with huge values.
  test('op/attention/causal-mask-ignores-future-rows', async (env) => {
    await withHarness(env, 'attention', async (h) => {
      const rng = new Rng('causal');
      const [heads, kvHeads, hd, n, pos, ctx] = [2, 1, 8, 3, 2, 10];
      const q = h.buffer('f32', n, heads * hd, 'q');
      const kCache = h.buffer('f32', ctx, kvHeads * hd, 'kCache');
      const vCache = h.buffer('f32', ctx, kvHeads * hd, 'vCache');
      const out = h.buffer('f32', n, heads * hd, 'out');
      h.write(q, rng.f32(n * heads * hd));
      const k = rng.f32(ctx * hd);
      const v = rng.f32(ctx * hd);
      for (let j = pos + n; j < ctx; j++) for (let d = 0; d < hd; d++) v[j * hd + d] = 1e6;
      h.write(kCache, k);
      h.write(vCache, v);
      const program: Program = {
        label: 'causal',
        maxRows: n,
        ops: [{ kind: 'attention', q, kCache, vCache, out, heads, kvHeads, headDim: hd, scale: 1 / Math.sqrt(hd) }],
        outputs: [{ buffer: out, rows: 'active' }],
      };
      await h.check(program, { pos, n }, 'attention');
    });
  });

  // ------------------------------------------------------- silu_mul / add
  for (const kind of ['silu_mul', 'add'] as const) {
    for (const c of [
      { cols: 1, n: 1, mag: 1 },
      { cols: 3, n: 3, mag: 4 },
      { cols: 17, n: 2, mag: 8 },
      { cols: 173, n: 5, mag: 2 },
      { cols: 64, n: 1, mag: 100, tag: 'large' },
      { cols: 9, n: 3, mag: 2, rows: 1, tag: 'fixed-rows1' },
      { cols: 9, n: 1, mag: 2, rows: 3, tag: 'fixed-rows3' },
    ] as { cols: number; n: number; mag: number; tag?: string; rows?: number }[]) {
      const id = `op/${kind}/cols${c.cols}-n${c.n}${c.tag ? `-${c.tag}` : ''}`;
      test(id, async (env) => {
        await withHarness(env, kind, async (h) => {
          const rng = new Rng(id);
          const maxRows = Math.max(c.n, c.rows ?? 0) + 1;
          const a = h.buffer('f32', maxRows, c.cols, 'a');
          const b = h.buffer('f32', maxRows, c.cols, 'b');
          const out = h.buffer('f32', maxRows, c.cols, 'out');
          const aData = rng.f32(maxRows * c.cols, -c.mag, c.mag);
          if (c.tag === 'large') aData.set([100, -100, 1e4, -1e4, 88.8, -88.8, 0, -0].slice(0, aData.length));
          h.write(a, aData);
          h.write(b, rng.f32(maxRows * c.cols, -2, 2));
          h.write(out, sentinel(maxRows * c.cols));
          const fixed = c.rows ? { rows: c.rows } : {};
          const op = kind === 'add' ? { kind, a, b, out, ...fixed } : { kind, gate: a, up: b, out, ...fixed };
          const program: Program = { label: id, maxRows, ops: [op], outputs: [{ buffer: out, rows: 'active' }] };
          const [got] = await h.check(program, { pos: 0, n: c.n }, kind);
          if (!got.every((v) => Number.isFinite(v))) throw new Error(`${id}: non-finite output`);
          await h.checkBuffer(out, kind);
        });
      });
    }
  }
  test('op/add/out-aliases-a', async (env) => {
    await withHarness(env, 'add', async (h) => {
      const rng = new Rng('add-alias');
      const a = h.buffer('f32', 4, 19, 'a');
      const b = h.buffer('f32', 4, 19, 'b');
      h.write(a, rng.f32(76));
      h.write(b, rng.f32(76));
      const program: Program = { label: 'add-alias', maxRows: 4, ops: [{ kind: 'add', a, b, out: a }], outputs: [{ buffer: a, rows: 4 }] };
      const compiled = h.compile(program);
      await h.check(program, { pos: 0, n: 3 }, 'add', compiled);
      // A second replay accumulates again: a = a + 2b on rows 0..1, a + b on row 2 (run 1) then n=2.
      await h.check(program, { pos: 0, n: 2 }, 'add', compiled);
    });
  });

  // ------------------------------------------------------------- last_row
  for (const c of [
    { cols: 1, n: 1, maxRows: 1 },
    { cols: 3, n: 4, maxRows: 4 },
    { cols: 173, n: 2, maxRows: 5 },
  ]) {
    const id = `op/last_row/cols${c.cols}-n${c.n}-max${c.maxRows}`;
    test(id, async (env) => {
      await withHarness(env, 'last_row', async (h) => {
        const rng = new Rng(id);
        const x = h.buffer('f32', c.maxRows, c.cols, 'x');
        const out = h.buffer('f32', 1, c.cols, 'out');
        h.write(x, rng.f32(c.maxRows * c.cols));
        const program: Program = { label: id, maxRows: c.maxRows, ops: [{ kind: 'last_row', x, out }], outputs: [{ buffer: out, rows: 1 }] };
        await h.check(program, { pos: 0, n: c.n }, 'last_row');
      });
    });
  }

  // --------------------------------------------------------------- argmax
  const argCases: { name: string; cols: number; data: (rng: Rng) => Float32Array }[] = [
    { name: 'random-cols1', cols: 1, data: (r) => r.f32(1) },
    { name: 'random-cols3', cols: 3, data: (r) => r.f32(3) },
    { name: 'random-cols173', cols: 173, data: (r) => r.f32(173, -10, 10) },
    { name: 'random-cols512', cols: 512, data: (r) => r.f32(512, -30, 30) },
    { name: 'max-at-end', cols: 37, data: (r) => { const d = r.f32(37); d[36] = 5; return d; } },
    { name: 'tie-lowest-index-wins', cols: 173, data: (r) => { const d = r.f32(173); d[100] = 3; d[7] = 3; d[150] = 3; return d; } },
    { name: 'all-equal', cols: 64, data: () => new Float32Array(64).fill(-2.5) },
    { name: 'all-negative', cols: 33, data: (r) => r.f32(33, -1e6, -1e3) },
    { name: 'large-magnitudes', cols: 50, data: (r) => { const d = r.f32(50, -1e30, 1e30); d[20] = 3e38; d[21] = 3e38; return d; } },
  ];
  for (const c of argCases) {
    const id = `op/argmax/${c.name}`;
    test(id, async (env) => {
      await withHarness(env, 'argmax', async (h) => {
        const rng = new Rng(id);
        // Row 1 holds larger values: argmax must read row 0 only.
        const x = h.buffer('f32', 2, c.cols, 'x');
        const out = h.buffer('i32', 1, 1, 'token');
        const d = c.data(rng);
        h.write(x, d);
        h.write(x, new Float32Array(c.cols).fill(3.4e38), c.cols);
        const program: Program = { label: id, maxRows: 1, ops: [{ kind: 'argmax', x, out }], outputs: [{ buffer: out, rows: 1 }] };
        const [got] = await h.check(program, { pos: 0, n: 1 }, 'argmax');
        if (got[0] !== argmax(d, c.cols)) throw new Error('oracle and backend agree but not with argmax');
      });
    });
  }

  // --------------------------------------------------------------- sample
  defineSampleTests(test);
}

/** logits = log(probs) laid out over `vocab` ids in a scrambled order; other ids get very low logits. */
function separatedLogits(rng: Rng, vocab: number, probs: number[]): { logits: Float32Array; order: number[] } {
  const ids = Array.from({ length: vocab }, (_, i) => i);
  for (let i = vocab - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const logits = new Float32Array(vocab).fill(-40);
  probs.forEach((p, i) => (logits[ids[i]] = Math.log(p) + 3));
  return { logits, order: ids.slice(0, probs.length) };
}

interface SampleSetup {
  logitsBuf: DeviceBuffer;
  history: DeviceBuffer;
  out: DeviceBuffer;
  greedyOut: DeviceBuffer;
  program: Program;
}

function sampleProgram(h: Harness, label: string, vocab: number): SampleSetup {
  const logitsBuf = h.buffer('f32', 1, vocab, 'logits');
  const history = h.buffer('i32', 1, 16, 'history');
  const out = h.buffer('i32', 1, 1, 'token');
  const greedyOut = h.buffer('i32', 1, 1, 'argmax');
  const program: Program = {
    label,
    maxRows: 1,
    ops: [
      { kind: 'sample', logits: logitsBuf, history, out },
      { kind: 'argmax', x: logitsBuf, out: greedyOut },
    ],
    outputs: [
      { buffer: out, rows: 1 },
      { buffer: greedyOut, rows: 1 },
    ],
  };
  return { logitsBuf, history, out, greedyOut, program };
}

/**
 * Uniforms at 10%, 50% and 90% of every CDF segment wider than `minWidth`
 * (so at least 0.002 from any edge: far beyond f32 rounding), with the token
 * each must give.
 */
function segmentMidpoints(logits: Float32Array, params: SamplingParams, history: Int32Array, minWidth = 0.02): { u: number; token: number }[] {
  const d = sampleDistribution(logits, logits.length, params, history);
  if (d.kind === 'greedy') return [{ u: 0.5, token: d.token }];
  const out: { u: number; token: number }[] = [];
  let cum = 0;
  d.probs.forEach((p, i) => {
    if (p >= minWidth) for (const f of [0.1, 0.5, 0.9]) out.push({ u: cum + f * p, token: d.ids[i] });
    cum += p;
  });
  return out;
}

function defineSampleTests(test: Register): void {
  const base: SamplingParams = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, historyLength: 0, uniform: 0.5 };
  const run = async (h: Harness, s: SampleSetup, logits: Float32Array, params: SamplingParams, historyIds: number[] = []) => {
    const hist = new Int32Array(16);
    hist.set(historyIds);
    const compiled = h.compile(s.program);
    h.write(s.logitsBuf, logits);
    const results: number[] = [];
    for (const { u, token } of segmentMidpoints(logits, params, hist)) {
      const p = { ...params, uniform: u };
      const [got] = await h.check(s.program, { pos: 0, n: 1, inputs: [{ buffer: s.history, data: hist }], sampling: p }, 'sample', compiled);
      if (got[0] !== token) throw new Error(`uniform ${u}: sampled ${got[0]}, expected ${token}`);
      results.push(got[0]);
    }
    return results;
  };

  test('op/sample/greedy-equals-argmax', async (env) => {
    await withHarness(env, 'sample', async (h) => {
      const rng = new Rng('greedy');
      for (const vocab of [1, 7, 512]) {
        const s = sampleProgram(h, `greedy-${vocab}`, vocab);
        const compiled = h.compile(s.program);
        for (let trial = 0; trial < 3; trial++) {
          const logits = rng.f32(vocab, -8, 8);
          if (trial === 2 && vocab > 3) logits[vocab - 1] = logits[1] = logits[2] = 9; // tie: lowest index wins
          h.write(s.logitsBuf, logits);
          for (const uniform of [0, 0.5, 0.999]) {
            const [tok, am] = await h.check(s.program, { pos: 0, n: 1, sampling: { ...GREEDY, uniform } }, 'sample', compiled);
            if (tok[0] !== am[0] || tok[0] !== argmax(logits, vocab)) throw new Error(`greedy sampled ${tok[0]}, argmax op ${am[0]}, oracle ${argmax(logits, vocab)}`);
          }
        }
      }
    });
  });

  test('op/sample/top-k-1-equals-argmax', async (env) => {
    await withHarness(env, 'sample', async (h) => {
      const rng = new Rng('topk1');
      const s = sampleProgram(h, 'topk1', 300);
      const compiled = h.compile(s.program);
      for (let trial = 0; trial < 3; trial++) {
        const logits = rng.f32(300, -3, 3);
        h.write(s.logitsBuf, logits);
        for (const uniform of [0, 0.3, 0.999999]) {
          const [tok, am] = await h.check(s.program, { pos: 0, n: 1, sampling: { ...base, temperature: 1.3, topK: 1, uniform } }, 'sample', compiled);
          if (tok[0] !== am[0]) throw new Error(`top-k 1 sampled ${tok[0]}, argmax ${am[0]}`);
        }
      }
    });
  });

  const probs = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04];
  const cases: { name: string; vocab: number; params: Partial<SamplingParams>; history?: number[] }[] = [
    { name: 'temperature-1', vocab: 6, params: {} },
    { name: 'temperature-1-vocab512', vocab: 512, params: {} },
    { name: 'temperature-0.7', vocab: 40, params: { temperature: 0.7 } },
    { name: 'temperature-2', vocab: 40, params: { temperature: 2 } },
    { name: 'top-k-3', vocab: 40, params: { topK: 3 } },
    { name: 'top-p-0.7', vocab: 40, params: { topP: 0.7 } },
    { name: 'min-p-0.3', vocab: 40, params: { minP: 0.3 } },
    { name: 'top-k-top-p-min-p', vocab: 100, params: { temperature: 0.9, topK: 5, topP: 0.9, minP: 0.1 } },
  ];
  for (const c of cases) {
    const id = `op/sample/${c.name}`;
    test(id, async (env) => {
      await withHarness(env, 'sample', async (h) => {
        const rng = new Rng(id);
        const s = sampleProgram(h, id, c.vocab);
        const { logits } = separatedLogits(rng, c.vocab, probs);
        const tokens = await run(h, s, logits, { ...base, ...c.params }, c.history);
        if (tokens.length < 2) throw new Error('test setup: fewer than 2 segments checked');
      });
    });
  }

  test('op/sample/repetition-penalty', async (env) => {
    await withHarness(env, 'sample', async (h) => {
      const rng = new Rng('rep');
      const s = sampleProgram(h, 'rep', 40);
      const { logits, order } = separatedLogits(rng, 40, probs);
      // Penalise the most likely token (positive logit: divided) and one below zero (multiplied), repeated ids count once.
      logits[order[5]] = -1.5;
      const history = [order[0], order[5], order[0], 39 - 0];
      const params = { ...base, repetitionPenalty: 1.8, historyLength: 3 };
      const hist0 = new Int32Array(16);
      hist0.set(history);
      const penalised = sampleDistribution(logits, 40, params, hist0);
      const plain = sampleDistribution(logits, 40, base, hist0);
      if (JSON.stringify(penalised) === JSON.stringify(plain)) throw new Error('test setup: penalty did not change the distribution');
      await run(h, s, logits, params, history);
      // Greedy applies the penalty too.
      const hist = new Int32Array(16);
      hist.set(history);
      const [tok] = await h.check(s.program, { pos: 0, n: 1, inputs: [{ buffer: s.history, data: hist }], sampling: { ...GREEDY, repetitionPenalty: 100, historyLength: 1 } }, 'sample');
      if (tok[0] === order[0]) throw new Error('greedy ignored the repetition penalty');
    });
  });

  test('op/sample/deterministic-for-a-uniform', async (env) => {
    await withHarness(env, 'sample', async (h) => {
      const rng = new Rng('det');
      const s = sampleProgram(h, 'det', 256);
      const compiled = h.compile(s.program);
      const logits = rng.f32(256, -2, 2);
      h.write(s.logitsBuf, logits);
      const d = sampleDistribution(logits, 256, { ...base, temperature: 0.8 }, new Int32Array(16));
      if (d.kind !== 'random') throw new Error('test setup: expected a random distribution');
      const edges: number[] = [];
      d.probs.reduce((cum, p) => (edges.push(cum + p), cum + p), 0);
      let checked = 0;
      while (checked < 5) {
        const uniform = rng.next();
        // Stay 1e-4 away from every CDF edge so f32 rounding cannot change the answer.
        if (edges.some((e) => Math.abs(e - uniform) < 1e-4)) continue;
        const sampling = { ...base, temperature: 0.8, uniform };
        const [a] = await env.backend.run(compiled, { pos: 0, n: 1, sampling });
        const [b] = await env.backend.run(compiled, { pos: 0, n: 1, sampling });
        if (a[0] !== b[0]) throw new Error(`uniform ${uniform}: ${a[0]} then ${b[0]}`);
        const want = sample(logits, 256, sampling, new Int32Array(16));
        if (a[0] !== want) throw new Error(`uniform ${uniform}: sampled ${a[0]}, oracle ${want}`);
        checked++;
      }
    });
  });
}

