#!/usr/bin/env node
/**
 * CPU backend benchmarks. `npm run bench` (after `npx tsup`) prints a table
 * and writes bench-results/cpu.json.
 *
 *   node bench/run.mjs [--filter <substring>] [--quick] [--out <file>]
 *
 * Benchmarks are a flat list of named async functions returning
 * `{ metric, value, unit, ...details }`; add whole-model ones (through the
 * engine) by pushing onto `benchmarks` with the same shape.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, arch } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeF16, encodeF32, encodeQ8_0 } from '@bitexit/format';
import { createCpuBackend } from '../dist/index.js';
import { modelBenchmarks } from './models.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const filter = opt('--filter');
const outFile = resolve(opt('--out') ?? resolve(here, '..', 'bench-results', 'cpu.json'));
const minSeconds = quick ? 0.15 : 0.6;

// ------------------------------------------------------------------ helpers

/** Deterministic uniform floats in [-1, 1). */
function random(n, seed = 1) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

function encode(dtype, values) {
  switch (dtype) {
    case 'f32':
      return encodeF32(values);
    case 'f16':
      return encodeF16(values);
    case 'q8_0':
      return encodeQ8_0(values, [values.length]);
  }
  throw new Error(`no encoder for ${dtype}`);
}

/** Runs `step` until minSeconds have passed (at least 2 runs after one warm-up); seconds per run. */
async function time(step) {
  await step();
  let runs = 0;
  const t0 = performance.now();
  let t = t0;
  while (runs < 2 || t - t0 < minSeconds * 1000) {
    await step();
    runs++;
    t = performance.now();
  }
  return (t - t0) / 1000 / runs;
}

// ------------------------------------------------------------------ benchmarks

/** @type {{ name: string, fn: () => Promise<Record<string, unknown>> }[]} */
export const benchmarks = [];

const matmulShapes = [
  [64, 64],
  [172, 64],
  [512, 64],
  [768, 256],
  [4096, 4096],
];
for (const dtype of ['f32', 'f16', 'q8_0']) {
  for (const [N, K] of matmulShapes) {
    for (const n of [1, 64]) {
      benchmarks.push({
        name: `matmul ${dtype} ${N}x${K} n=${n}`,
        fn: async () => {
          const be = await createCpuBackend();
          const w = await be.uploadWeight({ name: 'w', dtype, shape: [N, K], data: encode(dtype, random(N * K, 7)) });
          const x = be.createBuffer('f32', [n, K], 'x');
          const out = be.createBuffer('f32', [n, N], 'out');
          be.writeBuffer(x, random(n * K, 3));
          const prog = be.compile({ label: 'mm', maxRows: n, ops: [{ kind: 'matmul', x, weight: w, out }], outputs: [] });
          const s = await time(() => be.run(prog, { pos: 0, n }));
          await be.dispose();
          const flops = 2 * N * K * n;
          return { metric: 'GFLOP/s', value: flops / s / 1e9, unit: 'GFLOP/s', msPerRun: s * 1e3, weightBytes: w.byteLength };
        },
      });
    }
  }
}

for (const [heads, kvHeads, headDim, ctx, n] of [
  [8, 4, 8, 256, 1],
  [32, 8, 128, 512, 1],
  [32, 8, 128, 2048, 1],
  [32, 8, 128, 512, 64],
]) {
  benchmarks.push({
    name: `attention h${heads}/kv${kvHeads} d${headDim} ctx=${ctx} n=${n}`,
    fn: async () => {
      const be = await createCpuBackend();
      const q = be.createBuffer('f32', [n, heads * headDim], 'q');
      const out = be.createBuffer('f32', [n, heads * headDim], 'out');
      const kCache = be.createBuffer('f32', [ctx, kvHeads * headDim], 'k');
      const vCache = be.createBuffer('f32', [ctx, kvHeads * headDim], 'v');
      be.writeBuffer(q, random(n * heads * headDim, 1));
      be.writeBuffer(kCache, random(ctx * kvHeads * headDim, 2));
      be.writeBuffer(vCache, random(ctx * kvHeads * headDim, 3));
      const prog = be.compile({
        label: 'attn',
        maxRows: n,
        ops: [{ kind: 'attention', q, kCache, vCache, out, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) }],
        outputs: [],
      });
      const pos = ctx - n;
      const s = await time(() => be.run(prog, { pos, n }));
      await be.dispose();
      return { metric: 'ms/run', value: s * 1e3, unit: 'ms', keysPerRow: ctx };
    },
  });
}

/**
 * A Llama-shaped program with random weights (same ops the engine emits),
 * to measure whole-step decode/prefill throughput without model files.
 */
async function buildLlamaShaped(be, cfg, dtype, maxRows) {
  const { dim, hidden, layers, heads, kvHeads, vocab, ctx } = cfg;
  const headDim = dim / heads;
  const kvw = kvHeads * headDim;
  let seed = 1;
  const up = (name, shape, dt = dtype) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return be.uploadWeight({ name, dtype: dt, shape, data: encode(dt, random(n, seed++).map((x) => x * 0.1)) });
  };
  const B = (cols, label, rows = maxRows) => be.createBuffer('f32', [rows, cols], label);
  const ids = be.createBuffer('i32', [maxRows, 1], 'ids');
  const [x, h, q, att, o] = ['x', 'h', 'q', 'att', 'o'].map((l) => B(dim, l));
  const [k, v] = ['k', 'v'].map((l) => B(kvw, l));
  const [g, u] = ['g', 'u'].map((l) => B(hidden, l));
  // The IR runs every op over the n active rows, so the buffers after last_row keep maxRows rows.
  const last = B(dim, 'last');
  const logits = B(vocab, 'logits');
  const tok = be.createBuffer('i32', [1, 1], 'tok');
  const invFreq = Float32Array.from({ length: headDim / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / headDim));
  const ones = (n) => new Float32Array(n).fill(1);
  const norm = (name) => be.uploadWeight({ name, dtype: 'f32', shape: [dim], data: encode('f32', ones(dim)) });
  const ops = [{ kind: 'embed', table: await up('emb', [vocab, dim]), ids, out: x }];
  for (let l = 0; l < layers; l++) {
    const kCache = B(kvw, `kc${l}`, ctx);
    const vCache = B(kvw, `vc${l}`, ctx);
    ops.push(
      { kind: 'rmsnorm', x, weight: await norm(`an${l}`), eps: 1e-5, out: h },
      { kind: 'matmul', x: h, weight: await up(`wq${l}`, [dim, dim]), out: q },
      { kind: 'matmul', x: h, weight: await up(`wk${l}`, [kvw, dim]), out: k },
      { kind: 'matmul', x: h, weight: await up(`wv${l}`, [kvw, dim]), out: v },
      { kind: 'rope', x: q, heads, headDim, ropeDim: headDim, style: 'adjacent', invFreq },
      { kind: 'rope', x: k, heads: kvHeads, headDim, ropeDim: headDim, style: 'adjacent', invFreq },
      { kind: 'kv_store', k, v, kCache, vCache },
      { kind: 'attention', q, kCache, vCache, out: att, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) },
      { kind: 'matmul', x: att, weight: await up(`wo${l}`, [dim, dim]), out: o },
      { kind: 'add', a: x, b: o, out: x },
      { kind: 'rmsnorm', x, weight: await norm(`fn${l}`), eps: 1e-5, out: h },
      { kind: 'matmul', x: h, weight: await up(`w1${l}`, [hidden, dim]), out: g },
      { kind: 'matmul', x: h, weight: await up(`w3${l}`, [hidden, dim]), out: u },
      { kind: 'silu_mul', gate: g, up: u, out: g },
      { kind: 'matmul', x: g, weight: await up(`w2${l}`, [dim, hidden]), out: o },
      { kind: 'add', a: x, b: o, out: x },
    );
  }
  ops.push(
    { kind: 'last_row', x, out: last },
    { kind: 'rmsnorm', x: last, weight: await norm('norm'), eps: 1e-5, out: last },
    { kind: 'matmul', x: last, weight: await up('cls', [vocab, dim]), out: logits },
    { kind: 'argmax', x: logits, out: tok },
  );
  return { program: be.compile({ label: 'llama-shaped', maxRows, ops, outputs: [{ buffer: tok, rows: 1 }] }), ids };
}

const shapes = {
  'stories260K': { dim: 64, hidden: 172, layers: 5, heads: 8, kvHeads: 4, vocab: 512, ctx: 512 },
  'stories15M': { dim: 288, hidden: 768, layers: 6, heads: 6, kvHeads: 6, vocab: 32000, ctx: 256 },
};
for (const [shapeName, cfg] of Object.entries(shapes)) {
  for (const dtype of ['f32', 'q8_0']) {
    if (cfg.hidden % 32 && dtype === 'q8_0') continue;
    benchmarks.push({
      name: `${shapeName}-shaped decode ${dtype}`,
      fn: async () => {
        const be = await createCpuBackend();
        const { program, ids } = await buildLlamaShaped(be, cfg, dtype, 1);
        const input = new Int32Array(1);
        const steps = 128;
        // Decode positions 0..steps-1 repeatedly (average over a context of `steps`).
        const s = await time(async () => {
          for (let pos = 0; pos < steps; pos++) {
            input[0] = pos % cfg.vocab;
            await be.run(program, { pos, n: 1, inputs: [{ buffer: ids, data: input }] });
          }
        });
        await be.dispose();
        return { metric: 'tokens/s', value: steps / s, unit: 'tok/s', context: steps };
      },
    });
    benchmarks.push({
      name: `${shapeName}-shaped prefill ${dtype} n=64`,
      fn: async () => {
        const be = await createCpuBackend();
        const { program, ids } = await buildLlamaShaped(be, cfg, dtype, 64);
        const input = Int32Array.from({ length: 64 }, (_, i) => i % cfg.vocab);
        const s = await time(() => be.run(program, { pos: 0, n: 64, inputs: [{ buffer: ids, data: input }] }));
        await be.dispose();
        return { metric: 'tokens/s', value: 64 / s, unit: 'tok/s' };
      },
    });
  }
}

benchmarks.push(...modelBenchmarks({ createCpuBackend, quick }));

// ------------------------------------------------------------------ main

async function main() {
  const env = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    platform: `${platform()} ${arch()}`,
    date: new Date().toISOString(),
    quick,
  };
  console.log(`bitexit cpu bench — node ${env.node}, ${env.cpu} (${env.cores} cores)`);
  const results = [];
  for (const b of benchmarks) {
    if (filter && !b.name.includes(filter)) continue;
    const r = await b.fn();
    results.push({ name: b.name, ...r });
    console.log(`${b.name.padEnd(44)} ${String(r.value.toFixed(3)).padStart(10)} ${r.unit}`);
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify({ backend: 'cpu', environment: env, results }, null, 2) + '\n');
  console.log(`wrote ${outFile}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
