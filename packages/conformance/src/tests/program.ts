/**
 * Program-level tests: a decoder block (embed → rmsnorm → q/k/v matmuls →
 * rope → kv_store → attention → output matmul → residual add → SwiGLU FFN →
 * add → last_row → final norm → LM head → argmax) compiled twice (prefill
 * with maxRows 5, decode with maxRows 1) over shared buffers, replayed over a
 * prefill and several decode steps, compared with the oracle at every step.
 */
import type { OpKind, Program, RopeStyle } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import type { Register, TestEnv } from '../context.js';
import { Harness } from '../harness.js';
import { Rng } from '../random.js';
import { ropeInvFreq } from '../oracle/rope.js';
import type { Bound } from '../tolerance.js';

interface BlockConfig {
  vocab: number;
  dim: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ropeDim: number;
  style: RopeStyle;
  ffn: number;
  ctx: number;
  dtype: WeightDType;
  /** Run the tail after last_row with `rows: 1` on 1-row buffers (as the engine does) instead of n rows. */
  tailRows1: boolean;
}

/** The loosest bound of the ops in the chain, widened 10x for error carried through ~20 ops. */
function chainBound(env: TestEnv): Bound {
  const kinds: OpKind[] = ['embed', 'rmsnorm', 'matmul', 'rope', 'kv_store', 'attention', 'silu_mul', 'add', 'last_row'];
  const bounds = kinds.map((k) => env.tolerance.op(k));
  return { nmse: 10 * Math.max(...bounds.map((b) => b.nmse)), maxAbs: 10 * Math.max(...bounds.map((b) => b.maxAbs)) };
}

async function buildBlock(h: Harness, cfg: BlockConfig, rng: Rng) {
  const { vocab, dim, heads, kvHeads, headDim, ffn, ctx, dtype } = cfg;
  const qw = heads * headDim;
  const kvw = kvHeads * headDim;
  const maxRows = 5;
  const w = (name: string, shape: number[], lo = -0.5, hi = 0.5) => h.weight(name, dtype, shape, rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi));
  const table = await w('token_embd', [vocab, dim], -1, 1);
  const attnNorm = await h.weight('attn_norm', 'f32', [dim], rng.f32(dim, 0.8, 1.2));
  const wq = await w('wq', [qw, dim]);
  const wk = await w('wk', [kvw, dim]);
  const wv = await w('wv', [kvw, dim]);
  const wo = await w('wo', [dim, qw]);
  const ffnNorm = await h.weight('ffn_norm', 'f32', [dim], rng.f32(dim, 0.8, 1.2));
  const wg = await w('w_gate', [ffn, dim]);
  const wu = await w('w_up', [ffn, dim]);
  const wd = await w('w_down', [dim, ffn]);
  const outNorm = await h.weight('output_norm', 'f32', [dim], rng.f32(dim, 0.8, 1.2));
  const lmHead = await w('output', [vocab, dim], -1, 1);
  const buf = (cols: number, label: string, dtype: 'f32' | 'i32' = 'f32') => h.buffer(dtype, maxRows, cols, label);
  const ids = buf(1, 'ids', 'i32');
  const x = buf(dim, 'x');
  const xn = buf(dim, 'xn');
  const q = buf(qw, 'q');
  const k = buf(kvw, 'k');
  const v = buf(kvw, 'v');
  const att = buf(qw, 'att');
  const o = buf(dim, 'o');
  const gate = buf(ffn, 'gate');
  const up = buf(ffn, 'up');
  const hidden = buf(ffn, 'hidden');
  // After last_row only row 0 is meaningful: either the tail ops carry rows: 1 (1-row buffers),
  // or they run over the n active rows of maxRows-row buffers.
  const tailRows = cfg.tailRows1 ? 1 : maxRows;
  const tail = cfg.tailRows1 ? { rows: 1 } : {};
  const last = h.buffer('f32', tailRows, dim, 'last');
  const lastN = h.buffer('f32', tailRows, dim, 'last_norm');
  const logits = h.buffer('f32', tailRows, vocab, 'logits');
  const token = h.buffer('i32', 1, 1, 'token');
  const kCache = h.buffer('f32', ctx, kvw, 'k_cache');
  const vCache = h.buffer('f32', ctx, kvw, 'v_cache');
  const invFreq = ropeInvFreq(cfg.ropeDim);
  const ops: Program['ops'] = [
    { kind: 'embed', table, ids, out: x },
    { kind: 'rmsnorm', x, weight: attnNorm, eps: 1e-5, out: xn },
    { kind: 'matmul', x: xn, weight: wq, out: q },
    { kind: 'matmul', x: xn, weight: wk, out: k },
    { kind: 'matmul', x: xn, weight: wv, out: v },
    { kind: 'rope', x: q, heads, headDim, ropeDim: cfg.ropeDim, style: cfg.style, invFreq },
    { kind: 'rope', x: k, heads: kvHeads, headDim, ropeDim: cfg.ropeDim, style: cfg.style, invFreq },
    { kind: 'kv_store', k, v, kCache, vCache },
    { kind: 'attention', q, kCache, vCache, out: att, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) },
    { kind: 'matmul', x: att, weight: wo, out: o },
    { kind: 'add', a: x, b: o, out: x },
    { kind: 'rmsnorm', x, weight: ffnNorm, eps: 1e-5, out: xn },
    { kind: 'matmul', x: xn, weight: wg, out: gate },
    { kind: 'matmul', x: xn, weight: wu, out: up },
    { kind: 'silu_mul', gate, up, out: hidden },
    { kind: 'matmul', x: hidden, weight: wd, out: o },
    { kind: 'add', a: x, b: o, out: x },
    { kind: 'last_row', x, out: last },
    { kind: 'rmsnorm', x: last, weight: outNorm, eps: 1e-5, out: lastN, ...tail },
    { kind: 'argmax', x: logits, out: token },
  ];
  // The LM head runs on the single last row: insert before argmax.
  ops.splice(ops.length - 1, 0, { kind: 'matmul', x: lastN, weight: lmHead, out: logits, ...tail });
  const outputs: Program['outputs'] = [
    { buffer: x, rows: 'active' },
    { buffer: logits, rows: 1 },
    { buffer: token, rows: 1 },
  ];
  const prefill: Program = { label: 'block-prefill', maxRows, ops, outputs };
  const decode: Program = { label: 'block-decode', maxRows: 1, ops, outputs };
  return { prefill, decode, ids, kCache, vCache, x };
}

const CONFIGS: { name: string; cfg: BlockConfig }[] = [
  { name: 'f32-gqa2-adjacent', cfg: { vocab: 37, dim: 24, heads: 4, kvHeads: 2, headDim: 6, ropeDim: 4, style: 'adjacent', ffn: 40, ctx: 16, dtype: 'f32', tailRows1: true } },
  { name: 'f16-gqa4-half', cfg: { vocab: 53, dim: 32, heads: 8, kvHeads: 2, headDim: 4, ropeDim: 4, style: 'half', ffn: 72, ctx: 12, dtype: 'f16', tailRows1: false } },
  { name: 'q8_0-gqa1-adjacent', cfg: { vocab: 41, dim: 64, heads: 4, kvHeads: 4, headDim: 16, ropeDim: 16, style: 'adjacent', ffn: 96, ctx: 10, dtype: 'q8_0', tailRows1: true } },
];

export function defineProgramTests(test: Register): void {
  for (const { name, cfg } of CONFIGS) {
    test(`program/block/${name}/prefill5-then-decode3`, async (env) => {
      env.requireDType(cfg.dtype);
      const h = new Harness(env.backend, () => chainBound(env));
      try {
        const rng = new Rng(name);
        const b = await buildBlock(h, cfg, rng);
        const cPrefill = h.compile(b.prefill);
        const cDecode = h.compile(b.decode);
        const prompt = Int32Array.from({ length: 5 }, () => rng.int(0, cfg.vocab));
        await h.check(b.prefill, { pos: 0, n: 5, inputs: [{ buffer: b.ids, data: prompt }] }, 'matmul', cPrefill);
        for (let step = 0; step < 3; step++) {
          const id = Int32Array.of(rng.int(0, cfg.vocab));
          const got = await h.check(b.decode, { pos: 5 + step, n: 1, inputs: [{ buffer: b.ids, data: id }] }, 'matmul', cDecode);
          if (got[0].length !== cfg.dim) throw new Error(`'active' output of a decode step has ${got[0].length} values, expected ${cfg.dim}`);
        }
        // The caches hold exactly the 8 positions written, and nothing beyond.
        await h.checkBuffer(b.kCache, 'kv_store');
        await h.checkBuffer(b.vCache, 'kv_store');
      } finally {
        h.release();
      }
    });
  }

  test('program/replay-is-bitwise-deterministic', async (env) => {
    const cfg = CONFIGS[0].cfg;
    const h = new Harness(env.backend, () => chainBound(env));
    try {
      const rng = new Rng('replay');
      const b = await buildBlock(h, cfg, rng);
      const cPrefill = h.compile(b.prefill);
      const cDecode = h.compile(b.decode);
      const prompt = Int32Array.from({ length: 4 }, () => rng.int(0, cfg.vocab));
      const next = Int32Array.of(rng.int(0, cfg.vocab));
      const sequence = async () => {
        const a = await env.backend.run(cPrefill, { pos: 0, n: 4, inputs: [{ buffer: b.ids, data: prompt }] });
        const c = await env.backend.run(cDecode, { pos: 4, n: 1, inputs: [{ buffer: b.ids, data: next }] });
        const d = await env.backend.run(cDecode, { pos: 4, n: 1, inputs: [{ buffer: b.ids, data: next }] });
        return { a, c, d };
      };
      const first = await sequence();
      const second = await sequence();
      const same = (x: ArrayLike<number>, y: ArrayLike<number>, what: string) => {
        if (x.length !== y.length) throw new Error(`${what}: lengths ${x.length} and ${y.length}`);
        for (let i = 0; i < x.length; i++) {
          if (!Object.is(x[i], y[i])) throw new Error(`${what}: element ${i} is ${x[i]} then ${y[i]}`);
        }
      };
      first.a.forEach((o, i) => same(o, second.a[i], `prefill output ${i}`));
      first.c.forEach((o, i) => same(o, first.d[i], `decode step replayed at the same position, output ${i}`));
      first.c.forEach((o, i) => same(o, second.c[i], `decode output ${i} after a second prefill`));
      if (first.a[0].length !== 4 * cfg.dim) throw new Error(`'active' output with n=4 has ${first.a[0].length} values, expected ${4 * cfg.dim}`);
    } finally {
      h.release();
    }
  });

  test('program/active-rows-and-fixed-rows-outputs', async (env) => {
    const h = new Harness(env.backend, (k) => env.tolerance.op(k));
    try {
      const rng = new Rng('rows');
      const a = h.buffer('f32', 6, 7, 'a');
      const b = h.buffer('f32', 6, 7, 'b');
      const out = h.buffer('f32', 6, 7, 'out');
      h.write(a, rng.f32(42));
      h.write(b, rng.f32(42));
      const program: Program = {
        label: 'rows',
        maxRows: 6,
        ops: [{ kind: 'add', a, b, out }],
        outputs: [
          { buffer: out, rows: 'active' },
          { buffer: out, rows: 6 },
          { buffer: a, rows: 2 },
        ],
      };
      const compiled = h.compile(program);
      for (const n of [1, 3, 6]) {
        const got = await h.check(program, { pos: 0, n }, 'add', compiled);
        const lengths = got.map((g) => g.length).join(',');
        if (lengths !== `${7 * n},42,14`) throw new Error(`n=${n}: output lengths ${lengths}, expected ${7 * n},42,14`);
      }
    } finally {
      h.release();
    }
  });

  test('program/memory-is-returned-on-release', async (env) => {
    const before = env.backend.memoryInUse();
    const h = new Harness(env.backend, (k) => env.tolerance.op(k));
    let during = 0;
    try {
      const rng = new Rng('mem');
      await h.weight('w', 'f32', [64, 64], rng.f32(64 * 64));
      h.buffer('f32', 16, 64, 'buf');
      during = env.backend.memoryInUse();
    } finally {
      h.release();
    }
    const after = env.backend.memoryInUse();
    if (!(during >= before + 64 * 64 * 4)) throw new Error(`memoryInUse ${before} -> ${during} after allocating >= ${64 * 64 * 4 + 16 * 64 * 4} bytes`);
    if (after !== before) throw new Error(`memoryInUse ${before} before, ${after} after releasing everything`);
  });
}
