/**
 * CUDA benchmarks (JSON out), all ratios measured in the same run:
 * 1. bx matrix-vector product on Llama-2-7B shapes at ~2.9 bits: bandwidth as
 *    a fraction of device-to-device cudaMemcpy bandwidth, and speedup over
 *    this backend's own f16 product (no cuBLAS in this CUDA install), for
 *    batches 1, 2, 4, 8, 16.
 * 2. End-to-end greedy decode tokens/s of a Llama-2-7B-shaped synthetic model
 *    (32 layers, 4096 hidden, 11008 FFN, 32000 vocab), f16 vs bx.
 */
import type { Backend, DeviceBuffer, DeviceWeight, Op, Program } from '@bitexit/backend';
import type { HostTensor, WeightDType } from '@bitexit/format';
import type { CudaBackend } from '../src/index.js';
import { bitsPerWeight, syntheticBx, syntheticF16 } from './synthetic.js';

export const LLAMA2_7B_SHAPES: [number, number][] = [
  [4096, 4096],
  [4096, 11008],
  [11008, 4096],
  [32000, 4096],
];
export const BATCHES = [1, 2, 4, 8, 16];

function tensor(name: string, dtype: WeightDType, shape: number[], data: Uint8Array): HostTensor {
  return { name, dtype, shape, data } as unknown as HostTensor;
}

/** Small shapes for a smoke run of the benchmark code itself (`--small`; e.g. on the host emulator). */
export const SMALL_SHAPES: [number, number][] = [
  [64, 256],
  [256, 128],
];

export async function benchCopyBandwidth(b: CudaBackend, bytes = 512 * 2 ** 20): Promise<{ bytes: number; msPerCopy: number; gbPerS: number }> {
  const ms = await b.benchCopy(bytes, 20);
  // A device-to-device copy reads and writes `bytes`.
  return { bytes, msPerCopy: ms, gbPerS: (2 * bytes) / (ms * 1e6) };
}

export async function benchMatvec(b: CudaBackend, copyGBs: number, log: (s: string) => void, shapes = LLAMA2_7B_SHAPES) {
  const rows = [];
  for (const [N, K] of shapes) {
    const bxBlob = syntheticBx(N, K);
    const wBx = await b.uploadWeight(tensor(`bx ${N}x${K}`, 'bx', [N, K], bxBlob));
    const wF16 = await b.uploadWeight(tensor(`f16 ${N}x${K}`, 'f16', [N, K], syntheticF16(N, K)));
    for (const batch of BATCHES) {
      const msBx = await b.benchMatvec(wBx, batch);
      const msF16 = await b.benchMatvec(wF16, batch);
      const bxGBs = bxBlob.byteLength / (msBx * 1e6);
      const f16GBs = (N * K * 2) / (msF16 * 1e6);
      const row = {
        shape: [N, K],
        batch,
        bxBitsPerWeight: bitsPerWeight(bxBlob, N, K),
        bxMs: msBx,
        f16Ms: msF16,
        bxGBs,
        f16GBs,
        bxFractionOfCopy: bxGBs / copyGBs,
        f16FractionOfCopy: f16GBs / copyGBs,
        speedupOverF16: msF16 / msBx,
      };
      rows.push(row);
      log(
        `matvec ${N}x${K} batch ${batch}: bx ${msBx.toFixed(4)} ms (${bxGBs.toFixed(0)} GB/s, ${(100 * row.bxFractionOfCopy).toFixed(1)}% of copy), ` +
          `f16 ${msF16.toFixed(4)} ms (${f16GBs.toFixed(0)} GB/s), speedup ${row.speedupOverF16.toFixed(2)}x`,
      );
    }
    b.release(wBx);
    b.release(wF16);
  }
  return rows;
}

export interface DecodeConfig {
  layers: number;
  dim: number;
  ffn: number;
  vocab: number;
  heads: number;
  context: number;
}

export const LLAMA2_7B: DecodeConfig = { layers: 32, dim: 4096, ffn: 11008, vocab: 32000, heads: 32, context: 512 };

/**
 * Greedy decode tokens/s of a synthetic model whose matrices (LM head
 * included) are `dtype`; embeddings f16, norms f32. With `earlyExit`, every
 * layer runs in a guarded region ('running') followed by an exit_check, and
 * each step forces the exit at a layer drawn uniformly from 15..29 of 32 (mean depth 23 =
 * 0.72 of 32 layers, like the paper's distribution): the step's `active` input
 * enables only that layer's check, whose predictor always fires on a 2-row
 * head, so the decision is made on the device and the skipped layers (and the
 * final LM head) read no weights. Timing only: the skipped layers' KV rows are
 * not filled in.
 */
export async function benchDecode(
  b: Backend,
  cfg: DecodeConfig,
  dtype: 'f16' | 'bx',
  steps: number,
  log: (s: string) => void,
  earlyExit = false,
) {
  const { layers, dim, ffn, vocab, heads, context } = cfg;
  const headDim = dim / heads;
  const blobs = new Map<string, Uint8Array>();
  const matrix = (N: number, K: number) => {
    const key = `${N}x${K}`;
    let blob = blobs.get(key);
    if (!blob) {
      blob = dtype === 'bx' ? syntheticBx(N, K, N + K) : syntheticF16(N, K, N + K);
      blobs.set(key, blob);
    }
    return blob;
  };
  const weights: DeviceWeight[] = [];
  const buffers: DeviceBuffer[] = [];
  const up = async (name: string, N: number, K: number) => {
    const w = await b.uploadWeight(tensor(name, dtype, [N, K], matrix(N, K)));
    weights.push(w);
    return w;
  };
  const ones = new Float32Array(dim).fill(1);
  const norm = async (name: string) => {
    const w = await b.uploadWeight(tensor(name, 'f32', [dim], new Uint8Array(ones.buffer)));
    weights.push(w);
    return w;
  };
  const buf = (dt: 'f32' | 'i32', r: number, c: number, label: string) => {
    const x = b.createBuffer(dt, [r, c], label);
    buffers.push(x);
    return x;
  };
  let weightBytes = 0;
  try {
    const t0 = performance.now();
    const emb = await b.uploadWeight(tensor('tok_embeddings', 'f16', [vocab, dim], syntheticF16(vocab, dim, 7)));
    weights.push(emb);
    const tok = buf('i32', 1, 1, 'token');
    const x = buf('f32', 1, dim, 'x');
    const xb = buf('f32', 1, dim, 'xb');
    const q = buf('f32', 1, dim, 'q');
    const k = buf('f32', 1, dim, 'k');
    const v = buf('f32', 1, dim, 'v');
    const att = buf('f32', 1, dim, 'att');
    const o = buf('f32', 1, dim, 'o');
    const h1 = buf('f32', 1, ffn, 'gate');
    const h2 = buf('f32', 1, ffn, 'up');
    const logits = buf('f32', 1, vocab, 'logits');
    const next = buf('i32', 1, 1, 'next');
    const invFreq = Float32Array.from({ length: headDim / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / headDim));
    const ops: Op[] = [{ kind: 'embed', table: emb, ids: tok, out: x }];
    // Early-exit plumbing (only used with earlyExit).
    const exit = buf('i32', 1, 2, 'exit');
    const active = buf('i32', 1, layers, 'active');
    const drafts = buf('i32', 1, 2, 'drafts');
    const probs = buf('f32', 1, 2, 'probs');
    const exitLogits = buf('f32', 1, 2, 'exit logits');
    const small = async (name: string, shape: number[], values: number[]) => {
      const w = await b.uploadWeight(tensor(name, 'f32', shape, new Uint8Array(Float32Array.from(values).buffer)));
      weights.push(w);
      return w;
    };
    const exitHead = earlyExit ? await b.uploadWeight(tensor('exit head', 'f16', [2, dim], syntheticF16(2, dim, 9))) : undefined;
    if (exitHead) weights.push(exitHead);
    const predictor = earlyExit
      ? {
          up: await small('pred.up', [1, 6], [0, 0, 0, 0, 0, 0]),
          upBias: await small('pred.up_bias', [1], [0]),
          down: await small('pred.down', [1, 1], [0]),
          downBias: await small('pred.down_bias', [1], [10]),
        }
      : undefined;
    const exitNorm = earlyExit ? await norm('exit norm') : undefined;
    for (let l = 0; l < layers; l++) {
      if (earlyExit) ops.push({ kind: 'guard_begin', exit, runIf: 'running' });
      const kc = buf('f32', context, dim, `k cache ${l}`);
      const vc = buf('f32', context, dim, `v cache ${l}`);
      const [an, wq, wk, wv, wo, fn, w1, w3, w2] = [
        await norm(`l${l}.attn_norm`),
        await up(`l${l}.wq`, dim, dim),
        await up(`l${l}.wk`, dim, dim),
        await up(`l${l}.wv`, dim, dim),
        await up(`l${l}.wo`, dim, dim),
        await norm(`l${l}.ffn_norm`),
        await up(`l${l}.w1`, ffn, dim),
        await up(`l${l}.w3`, ffn, dim),
        await up(`l${l}.w2`, dim, ffn),
      ];
      ops.push(
        { kind: 'rmsnorm', x, weight: an, eps: 1e-5, out: xb },
        { kind: 'matmul', x: xb, weight: wq, out: q },
        { kind: 'matmul', x: xb, weight: wk, out: k },
        { kind: 'matmul', x: xb, weight: wv, out: v },
        { kind: 'rope', x: q, heads, headDim, ropeDim: headDim, style: 'adjacent', invFreq },
        { kind: 'rope', x: k, heads, headDim, ropeDim: headDim, style: 'adjacent', invFreq },
        { kind: 'kv_store', k, v, kCache: kc, vCache: vc },
        { kind: 'attention', q, kCache: kc, vCache: vc, out: att, heads, kvHeads: heads, headDim, scale: 1 / Math.sqrt(headDim) },
        { kind: 'matmul', x: att, weight: wo, out: o },
        { kind: 'add', a: x, b: o, out: x },
        { kind: 'rmsnorm', x, weight: fn, eps: 1e-5, out: xb },
        { kind: 'matmul', x: xb, weight: w1, out: h1 },
        { kind: 'matmul', x: xb, weight: w3, out: h2 },
        { kind: 'silu_mul', gate: h1, up: h2, out: h1 },
        { kind: 'matmul', x: h1, weight: w2, out: o },
        { kind: 'add', a: x, b: o, out: x },
      );
      if (earlyExit && predictor && exitHead && exitNorm) {
        ops.push({ kind: 'guard_end' });
        ops.push({
          kind: 'exit_check',
          x,
          norm: exitNorm,
          eps: 1e-5,
          lmHead: exitHead,
          drafts,
          probs,
          active,
          ...predictor,
          threshold: 0.5,
          layer: l,
          logits: exitLogits,
          exit,
        });
      }
    }
    if (earlyExit) ops.push({ kind: 'guard_begin', exit, runIf: 'running' });
    const fnorm = await norm('norm');
    const head = await up('output', vocab, dim);
    ops.push({ kind: 'rmsnorm', x, weight: fnorm, eps: 1e-5, out: xb }, { kind: 'matmul', x: xb, weight: head, out: logits }, { kind: 'argmax', x: logits, out: next });
    if (earlyExit) ops.push({ kind: 'guard_end' });
    weightBytes = weights.reduce((a, w) => a + w.byteLength, 0);
    log(`decode ${dtype}: ${weights.length} weights, ${(weightBytes / 2 ** 30).toFixed(2)} GiB uploaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const label = `decode-${dtype}${earlyExit ? '-exit' : ''}`;
    const program: Program = { label, maxRows: 1, ops, outputs: [{ buffer: next, rows: 1 }, { buffer: exit, rows: 1 }] };
    const compiled = b.compile(program);
    let token = 1;
    let seed = 12345;
    const exitLayers: number[] = [];
    const step = async (pos: number) => {
      const inputs = [{ buffer: tok, data: new Int32Array([token]) as Int32Array | Float32Array }];
      if (earlyExit) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const lo = Math.round(layers * 0.47);
        const e = lo + ((seed >>> 16) % (layers - 1 - lo));
        const act = new Int32Array(layers);
        act[e] = 1;
        inputs.push(
          { buffer: active, data: act },
          { buffer: exit, data: new Int32Array([-1, -1]) },
          { buffer: drafts, data: new Int32Array([0, 1]) },
          { buffer: probs, data: new Float32Array(2) },
        );
      }
      const [out, ex] = (await b.run(compiled, { pos, n: 1, inputs })) as Int32Array[];
      if (earlyExit) {
        if (ex[1] < 0) throw new Error(`forced exit did not happen at step ${pos}`);
        exitLayers.push(ex[1]);
        token = ex[0];
      } else {
        token = out[0];
      }
    };
    const warm = 4;
    for (let p = 0; p < warm; p++) await step(p);
    const t1 = performance.now();
    for (let p = warm; p < warm + steps; p++) await step(p);
    const seconds = (performance.now() - t1) / 1000;
    b.release(compiled);
    const tokS = steps / seconds;
    const meanExit = exitLayers.length ? exitLayers.reduce((p, c) => p + c + 1, 0) / exitLayers.length / layers : 1;
    log(`${label}: ${steps} tokens in ${seconds.toFixed(3)} s = ${tokS.toFixed(1)} tok/s (weights ${(weightBytes / 2 ** 30).toFixed(2)} GiB, mean depth ${meanExit.toFixed(2)})`);
    return { dtype, earlyExit, meanDepthFraction: meanExit, steps, seconds, tokensPerSecond: tokS, weightBytes };
  } finally {
    for (const w of weights) b.release(w);
    for (const x of buffers) b.release(x);
  }
}
