#!/usr/bin/env node
/**
 * WebGPU backend benchmarks. `npm run bench` (after a build) prints a table and
 * writes bench-results/webgpu.json.
 *
 *   node bench/run.mjs [--small | --full] [--quick] [--filter <substring of a result name>] [--out <file>] [--fallback]
 *
 * - bx matrix–vector product on Llama-2-7B shapes with synthetic weights at
 *   b̄ = 2.9 bits (45% 4-bit groups, 55% 2-bit, G = 64, 8-bit second-order
 *   scales in 16×1 tiles): effective GB/s = blob bytes / time, and the fraction
 *   of a plain copy kernel's bandwidth (bytes read + written / time) measured
 *   in the same run on the same device;
 * - f16 matrix–vector product on the same shapes (and the bx speed-up over it);
 * - decode tokens/s on the fixture models through @bitexit/engine.
 * Each product is timed as R copies of the op in ONE program (one submit, one
 * readback), so submit/readback overhead is amortised; the first run is a warm-up.
 * The Llama-2-7B shapes are the default on a real GPU; on a software adapter
 * (lavapipe, SwiftShader) every shape is divided by 8 unless --full is given;
 * --small forces the small shapes anywhere.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, arch } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBx, encodeF16, representableGroupParams } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { createWebGpuBackend } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const forceSmall = args.includes('--small');
const forceFull = args.includes('--full');
const filter = opt('--filter');
const outFile = resolve(opt('--out') ?? resolve(here, '..', 'bench-results', 'webgpu.json'));
const backendOptions = args.includes('--fallback') ? { disableFeatures: ['shader-f16', 'subgroups'] } : {};
const minSeconds = quick ? 0.3 : 1.5;

const LLAMA2_7B = [
  [4096, 4096],
  [11008, 4096],
  [4096, 11008],
  [32000, 4096],
];

/** Deterministic xorshift floats in [0, 1). */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** A synthetic bx matrix at b̄ ≈ 2.9 bits (no outliers). */
function syntheticBx(N, K) {
  const G = 64;
  const nG = Math.ceil(K / G);
  const r = rng(N * 31 + K);
  const widths = new Uint8Array(nG).map(() => (r() < 0.45 ? 4 : 2));
  const codes = new Uint8Array(N * K);
  for (let row = 0; row < N; row++) {
    for (let c = 0; c < K; c++) codes[row * K + c] = Math.floor(r() * (1 << widths[Math.floor(c / G)]));
  }
  const scales = new Float32Array(N * nG).map(() => 0.001 + r() * 0.02);
  const zeros = new Float32Array(N * nG).map((_, i) => (widths[i % nG] === 4 ? 8 : 2));
  const p = representableGroupParams(scales, zeros, widths, N, { secondOrder: true, superGroup: { rows: 16, groups: 1 }, scaleBits: 8 });
  return encodeBx({
    rows: N,
    cols: K,
    groupSize: G,
    widths,
    codes,
    scales: p.scales,
    zeros: p.zeros,
    outliers: { rows: new Uint32Array(0), cols: new Uint32Array(0), values: new Float32Array(0) },
    secondOrder: true,
    superGroup: { rows: 16, groups: 1 },
    scaleBits: 8,
    secondOrderParams: p.secondOrder,
  });
}

function syntheticF16(N, K) {
  const r = rng(N * 17 + K);
  return encodeF16(Float32Array.from({ length: N * K }, () => (r() - 0.5) * 0.1));
}

/** Seconds per call of `step` (after one warm-up), running for at least minSeconds. */
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

/** Seconds per matrix–vector product: `reps` copies of the op in one program. */
async function timeMatvec(be, dtype, data, N, K, reps) {
  const w = await be.uploadWeight({ name: `w-${dtype}-${N}x${K}`, dtype, shape: [N, K], data });
  const x = be.createBuffer('f32', [1, K], 'x');
  const out = be.createBuffer('f32', [1, N], 'out');
  const r = rng(5);
  be.writeBuffer(x, Float32Array.from({ length: K }, () => r() - 0.5));
  const ops = Array.from({ length: reps }, () => ({ kind: 'matmul', x, weight: w, out }));
  const prog = be.compile({ label: 'matvec', maxRows: 1, ops, outputs: [{ buffer: out, rows: 1 }] });
  const s = (await time(() => be.run(prog, { pos: 0, n: 1 }))) / reps;
  be.release(prog);
  be.release(w);
  be.release(x);
  be.release(out);
  return { seconds: s, bytes: data.byteLength };
}

/** Plain copy kernel on the backend's device: bytes read + written per second. */
async function copyBandwidth(device, bytes, reps) {
  const size = Math.ceil(Math.min(bytes, device.limits.maxStorageBufferBindingSize) / 16) * 16;
  const src = device.createBuffer({ size, usage: 0x80 | 0x8 });
  const dst = device.createBuffer({ size, usage: 0x80 | 0x4 });
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read> a: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> b: array<vec4<u32>>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * 256u;
  if (i < arrayLength(&a)) { b[i] = a[i]; }
}`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: src } },
      { binding: 1, resource: { buffer: dst } },
    ],
  });
  const groups = Math.ceil(size / 16 / 256);
  const gx = Math.min(groups, 65535);
  const gy = Math.ceil(groups / gx);
  const step = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(gx, gy);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  const s = (await time(step)) / reps;
  src.destroy();
  dst.destroy();
  return (2 * size) / s / 1e9;
}

const models = [
  { name: 'stories260K (GGUF F32)', path: 'stories260K/stories260K.gguf' },
  { name: 'TinyStories-656K (HF F32)', path: 'tinystories-656k' },
];

async function main() {
  const be = await createWebGpuBackend(backendOptions);
  const software = /llvmpipe|lavapipe|swiftshader|software/i.test(be.capabilities.device);
  const small = forceSmall || (software && !forceFull);
  const SHAPES = LLAMA2_7B.map(([n, k]) => (small ? [n / 8, k / 8] : [n, k]));
  if (small && !forceSmall) console.log('software adapter: Llama-2-7B shapes divided by 8 (pass --full for the real shapes)');
  const env = {
    node: process.version,
    device: be.capabilities.device,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    platform: `${platform()} ${arch()}`,
    date: new Date().toISOString(),
    shapes: small ? 'Llama-2-7B / 8 (--small)' : 'Llama-2-7B',
    quick,
  };
  console.log(`bitexit webgpu bench — ${env.device}`);
  const results = [];
  const report = (r) => {
    results.push(r);
    console.log(`${r.name.padEnd(46)} ${String(r.value.toFixed(3)).padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
  };
  const want = (name) => !filter || name.includes(filter);

  const reps = small ? 4 : 8;
  // Copy bandwidth with a working set like the largest bx matrix.
  let copyGBs = 0;
  if (want('copy kernel') || SHAPES.some(([N, K]) => want(`bx matvec ${N}x${K}`))) {
    copyGBs = await copyBandwidth(be.gpuDevice, small ? 16 << 20 : 256 << 20, reps);
    report({ name: 'copy kernel bandwidth (read+write)', metric: 'GB/s', value: copyGBs, unit: 'GB/s' });
  }
  for (const [N, K] of SHAPES) {
    let bxSeconds = null;
    if (want(`bx matvec ${N}x${K}`)) {
      const blob = syntheticBx(N, K);
      const { seconds, bytes } = await timeMatvec(be, 'bx', blob, N, K, reps);
      bxSeconds = seconds;
      const gbs = bytes / seconds / 1e9;
      report({
        name: `bx matvec ${N}x${K}`,
        metric: 'GB/s',
        value: gbs,
        unit: 'GB/s',
        msPerProduct: seconds * 1e3,
        bitsPerWeight: (8 * bytes) / (N * K),
        fractionOfCopy: copyGBs ? gbs / copyGBs : null,
        note: `${(seconds * 1e3).toFixed(2)} ms, ${((8 * bytes) / (N * K)).toFixed(2)} bpw, ${copyGBs ? ((100 * gbs) / copyGBs).toFixed(0) : '?'}% of copy`,
      });
    }
    if (want(`f16 matvec ${N}x${K}`)) {
      const data = syntheticF16(N, K);
      const { seconds, bytes } = await timeMatvec(be, 'f16', data, N, K, reps);
      report({
        name: `f16 matvec ${N}x${K}`,
        metric: 'GB/s',
        value: bytes / seconds / 1e9,
        unit: 'GB/s',
        msPerProduct: seconds * 1e3,
        bxSpeedup: bxSeconds ? seconds / bxSeconds : null,
        note: `${(seconds * 1e3).toFixed(2)} ms${bxSeconds ? `, bx is ${(seconds / bxSeconds).toFixed(2)}x faster` : ''}`,
      });
    }
  }
  await be.dispose();

  if (models.some((m) => want(`model ${m.name} decode`))) {
    const { loadModel } = await import('@bitexit/engine');
    for (const m of models) {
      if (!want(`model ${m.name} decode`)) continue;
      const path = fixturePath(m.path);
      const textPath = fixturePath('text/tinystories-dev.txt');
      if (!path || !textPath) {
        report({ name: `model ${m.name} decode`, metric: 'skipped', value: 0, unit: 'fixture missing' });
        continue;
      }
      const backend = await createWebGpuBackend(backendOptions);
      const model = await loadModel(path, { backend, contextLength: 512, prefillChunk: 64 });
      const prompt = model.tokenizer.encode(readFileSync(textPath, 'utf8').slice(0, 2000), { addBos: true }).slice(0, 64);
      let decode = 0;
      let prefill = 0;
      for (let i = 0; i < (quick ? 1 : 3); i++) {
        const { stats } = await model.generate(prompt, { temperature: 0, maxTokens: 64 }).result;
        await model.logits([1]); // resets the cached prefix
        decode = Math.max(decode, stats.decodeTokensPerSecond);
        prefill = Math.max(prefill, stats.prefillTokensPerSecond);
      }
      await model.dispose();
      await backend.dispose();
      report({ name: `model ${m.name} decode`, metric: 'decode tokens/s', value: decode, unit: 'tok/s', prefillTokensPerSecond: prefill, note: `prefill ${prefill.toFixed(1)} tok/s` });
    }
  }

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify({ backend: 'webgpu', environment: env, results }, null, 2) + '\n');
  console.log(`wrote ${outFile}`);
}

await main();
// Dawn keeps the event loop alive; the benchmark is done.
process.exit(0);
