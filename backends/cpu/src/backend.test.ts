import { describe, expect, it } from 'vitest';
import {
  createBackend,
  InvalidHandleError,
  InvalidProgramError,
  OutOfMemoryError,
  registeredBackends,
  unregisterBackend,
  UnsupportedOpError,
  OP_KINDS,
  type Backend,
  type DeviceBuffer,
  type Op,
} from '@bitexit/backend';
import { CpuBackend } from './backend.js';
import { cpuBackendProvider, createCpuBackend, registerCpuBackend } from './provider.js';
import { KernelRegistry } from './kernels/registry.js';
import { registerBuiltinKernels } from './kernels/index.js';
import { matmulF32Kernel } from './kernels/matmul.js';
import { buffer, expectClose, makeWeight, randomF32, upload } from './testing/helpers.js';

describe('CpuBackend: capabilities and provider', () => {
  it('reports every op and weight type', () => {
    const be = new CpuBackend();
    expect(be.capabilities.name).toBe('cpu');
    expect(be.capabilities.floatPrecision).toBe(32);
    expect([...be.capabilities.ops].sort()).toEqual([...OP_KINDS].sort());
    expect([...be.capabilities.weightDTypes].sort()).toEqual(['bf16', 'bx', 'f16', 'f32', 'q8_0']);
    expect(be.capabilities.limits.maxBufferBytes).toBeGreaterThanOrEqual(2 ** 30);
  });

  it('registers once with the backend registry and is created by name and by auto', async () => {
    registerCpuBackend();
    registerCpuBackend();
    expect(registeredBackends().filter((p) => p.name === 'cpu')).toHaveLength(1);
    expect(await cpuBackendProvider.probe()).toEqual({ ok: true, detail: expect.stringContaining('TypeScript') });
    const { backend, skipped } = await createBackend('cpu');
    expect(backend.capabilities.name).toBe('cpu');
    expect(skipped).toEqual([]);
    expect((await createBackend('auto')).backend.capabilities.name).toBeDefined();
    expect((await createCpuBackend()).specificationVersion).toBe(cpuBackendProvider.specificationVersion);
    unregisterBackend('cpu');
  });
});

describe('CpuBackend: resources', () => {
  it('stores weights in their storage format and accounts memory', async () => {
    const be = new CpuBackend();
    expect(be.memoryInUse()).toBe(0);
    const values = randomF32(64 * 32, 1);
    const f16 = await be.uploadWeight(makeWeight('a', 'f16', [64, 32], values).tensor);
    expect(be.memoryInUse()).toBe(64 * 32 * 2);
    const q8 = await be.uploadWeight(makeWeight('b', 'q8_0', [64, 32], values).tensor);
    expect(be.memoryInUse()).toBe(64 * 32 * 2 + 64 * 34);
    expect(q8.byteLength).toBe(64 * 34);
    const buf = be.createBuffer('f32', [4, 10], 'x');
    expect(be.memoryInUse()).toBe(64 * 32 * 2 + 64 * 34 + 160);
    be.release(f16);
    be.release(buf);
    expect(be.memoryInUse()).toBe(64 * 34);
    await be.dispose();
    expect(be.memoryInUse()).toBe(0);
  });

  it('copies weights, also from unaligned bytes, and does not alias the caller', async () => {
    const be = new CpuBackend();
    const values = new Float32Array([1, 2, 3, 4]);
    const raw = new Uint8Array(17);
    raw.set(new Uint8Array(values.buffer), 1);
    const data = raw.subarray(1);
    const w = await be.uploadWeight({ name: 'w', dtype: 'f32', shape: [1, 4], data });
    data.fill(0);
    const x = buffer(be, 1, 4, 'x', new Float32Array([1, 1, 1, 1]));
    const out = buffer(be, 1, 1, 'o');
    const p = be.compile({ label: 'p', maxRows: 1, ops: [{ kind: 'matmul', x, weight: w, out }], outputs: [{ buffer: out, rows: 1 }] });
    expect([...(await be.run(p, { pos: 0, n: 1 }))[0]]).toEqual([10]);
  });

  it('buffers are zero-filled, typed, and writes are bounds-checked', async () => {
    const be = new CpuBackend();
    const f = be.createBuffer('f32', [2, 3], 'f');
    const i = be.createBuffer('i32', [2, 1], 'i');
    expect(await be.readBuffer(f)).toEqual(new Float32Array(6));
    expect(await be.readBuffer(i)).toBeInstanceOf(Int32Array);
    be.writeBuffer(f, new Float32Array([5, 6]), 4);
    expect([...(await be.readBuffer(f))]).toEqual([0, 0, 0, 0, 5, 6]);
    expect(() => be.writeBuffer(f, new Float32Array(3), 4)).toThrow(InvalidProgramError);
    expect(() => be.writeBuffer(f, new Int32Array(1))).toThrow(InvalidProgramError);
    expect(() => be.writeBuffer(i, new Float32Array(1))).toThrow(InvalidProgramError);
    expect(() => be.createBuffer('f32', [0, 3], 'z')).toThrow(InvalidProgramError);
    expect(() => be.createBuffer('f32', [1.5, 3], 'z')).toThrow(InvalidProgramError);
    // readBuffer returns a copy.
    const r = await be.readBuffer(f);
    r[0] = 42;
    expect((await be.readBuffer(f))[0]).toBe(0);
  });

  it('OutOfMemoryError for allocations past the limit', async () => {
    const be = new CpuBackend();
    expect(() => be.createBuffer('f32', [1 << 16, 1 << 16], 'huge')).toThrow(OutOfMemoryError);
    expect(() => be.createBuffer('f32', [1 << 16, 1 << 16], 'huge')).toThrow(/out of memory allocating buffer 'huge'/);
    expect(be.memoryInUse()).toBe(0);
  });

  it('rejects unsupported weight types and malformed weights', async () => {
    const be = new CpuBackend();
    const bad = { name: 'w', dtype: 'q4_0' as never, shape: [32], data: new Uint8Array(18) };
    await expect(be.uploadWeight(bad)).rejects.toThrow(UnsupportedOpError);
    await expect(be.uploadWeight(bad)).rejects.toThrow("kernel 'weight[q4_0]' is not registered for backend 'cpu'");
    await expect(be.uploadWeight({ name: 'w', dtype: 'f32', shape: [4], data: new Uint8Array(12) })).rejects.toThrow(InvalidProgramError);
    await expect(be.uploadWeight({ name: 'w', dtype: 'q8_0', shape: [2, 16], data: new Uint8Array(34) })).rejects.toThrow(/multiples of 32/);
    await expect(be.uploadWeight({ name: 'w', dtype: 'f16', shape: [0], data: new Uint8Array(0) })).rejects.toThrow(InvalidProgramError);
  });
});

describe('CpuBackend: handles', () => {
  it('released handles and handles of another instance are InvalidHandleError', async () => {
    const a = new CpuBackend();
    const b = new CpuBackend();
    const buf = a.createBuffer('f32', [1, 4], 'x');
    const other = b.createBuffer('f32', [1, 4], 'y');
    expect(() => a.writeBuffer(other, new Float32Array(4))).toThrow(InvalidHandleError);
    expect(() => a.writeBuffer(other, new Float32Array(4))).toThrow(/does not belong/);
    a.release(buf);
    expect(() => a.writeBuffer(buf, new Float32Array(4))).toThrow(/was released/);
    await expect(a.readBuffer(buf)).rejects.toThrow(InvalidHandleError);
    expect(() => a.release(buf)).toThrow(InvalidHandleError);
    const w = await b.uploadWeight(makeWeight('w', 'f32', [4, 4], randomF32(16, 1)).tensor);
    const x = a.createBuffer('f32', [1, 4], 'x');
    const out = a.createBuffer('f32', [1, 4], 'o');
    expect(() => a.compile({ label: 'p', maxRows: 1, ops: [{ kind: 'matmul', x, weight: w, out }], outputs: [] })).toThrow(InvalidHandleError);
    // A forged handle naming a real id with another shape is refused.
    const forged = { ...x, shape: [1, 400] as const };
    expect(() => a.writeBuffer(forged, new Float32Array(400))).toThrow(InvalidHandleError);
  });

  it('a program whose buffer or weight was released refuses to run; a released program too', async () => {
    const be = new CpuBackend();
    const { weight } = await upload(be, 'w', 'f32', [4, 4], randomF32(16, 1));
    const x = be.createBuffer('f32', [1, 4], 'x');
    const out = be.createBuffer('f32', [1, 4], 'o');
    const p = be.compile({ label: 'p', maxRows: 1, ops: [{ kind: 'matmul', x, weight, out }], outputs: [{ buffer: out, rows: 1 }] });
    await be.run(p, { pos: 0, n: 1 });
    be.release(weight);
    await expect(be.run(p, { pos: 0, n: 1 })).rejects.toThrow(/uses weight 'w', which was released/);
    be.release(p);
    await expect(be.run(p, { pos: 0, n: 1 })).rejects.toThrow(InvalidHandleError);
  });

  it('a disposed backend refuses further use', async () => {
    const be = new CpuBackend();
    await be.dispose();
    expect(() => be.createBuffer('f32', [1, 1], 'x')).toThrow(InvalidHandleError);
  });
});

describe('CpuBackend: compile and run validation', () => {
  it('bad shapes are InvalidProgramError at compile time', async () => {
    const be = new CpuBackend();
    const { weight } = await upload(be, 'w', 'f32', [8, 4], randomF32(32, 1));
    const x = be.createBuffer('f32', [2, 5], 'x');
    const out = be.createBuffer('f32', [2, 8], 'o');
    expect(() => be.compile({ label: 'p', maxRows: 2, ops: [{ kind: 'matmul', x, weight, out }], outputs: [] })).toThrow(InvalidProgramError);
    const x4 = be.createBuffer('f32', [1, 4], 'x4');
    const o8 = be.createBuffer('f32', [1, 8], 'o8');
    expect(() => be.compile({ label: 'p', maxRows: 2, ops: [{ kind: 'matmul', x: x4, weight, out: o8 }], outputs: [] })).toThrow(/rows/);
  });

  it('a missing kernel is UnsupportedOpError naming it', async () => {
    const registry = new KernelRegistry('cpu');
    registry.register(matmulF32Kernel);
    const be = new CpuBackend({ registry });
    expect(be.capabilities.ops).toEqual(['matmul']);
    expect(() => registry.lookup('matmul', 'q8_0')).toThrow("kernel 'matmul[q8_0]' is not registered for backend 'cpu'");
    const full = new KernelRegistry('cpu');
    registerBuiltinKernels(full);
    expect(full.keys()).toContain('matmul[q8_0]');
    const x = be.createBuffer('f32', [1, 4], 'x');
    const out = be.createBuffer('f32', [1, 4], 'o');
    expect(() => be.compile({ label: 'p', maxRows: 1, ops: [{ kind: 'add', a: x, b: x, out }], outputs: [] })).toThrow(UnsupportedOpError);
  });

  it('n outside 1..maxRows, bad pos, and pos + n past the KV cache are InvalidProgramError', async () => {
    const be = new CpuBackend();
    const k = be.createBuffer('f32', [4, 8], 'k');
    const v = be.createBuffer('f32', [4, 8], 'v');
    const kCache = be.createBuffer('f32', [16, 8], 'kc');
    const vCache = be.createBuffer('f32', [16, 8], 'vc');
    const p = be.compile({ label: 'kv', maxRows: 4, ops: [{ kind: 'kv_store', k, v, kCache, vCache }], outputs: [] });
    await expect(be.run(p, { pos: 0, n: 5 })).rejects.toThrow(InvalidProgramError);
    await expect(be.run(p, { pos: 0, n: 0 })).rejects.toThrow(InvalidProgramError);
    await expect(be.run(p, { pos: -1, n: 1 })).rejects.toThrow(InvalidProgramError);
    await expect(be.run(p, { pos: 13, n: 4 })).rejects.toThrow(/KV cache of 16 rows/);
    await expect(be.run(p, { pos: 12, n: 4 })).resolves.toEqual([]);
  });

  it('outputs: active rows, fixed rows, and copies', async () => {
    const be = new CpuBackend();
    const a = buffer(be, 3, 2, 'a', new Float32Array([1, 2, 3, 4, 5, 6]));
    const b = buffer(be, 3, 2, 'b', new Float32Array([10, 20, 30, 40, 50, 60]));
    const out = be.createBuffer('f32', [3, 2], 'o');
    const p = be.compile({
      label: 'p',
      maxRows: 3,
      ops: [{ kind: 'add', a, b, out }],
      outputs: [
        { buffer: out, rows: 'active' },
        { buffer: out, rows: 3 },
      ],
    });
    const [active, all] = await be.run(p, { pos: 0, n: 2 });
    expect([...active]).toEqual([11, 22, 33, 44]);
    expect([...all]).toEqual([11, 22, 33, 44, 0, 0]);
    active[0] = 99;
    expect((await be.readBuffer(out))[0]).toBe(11);
  });
});

// ---------------------------------------------------------------------------
// A two-layer Llama-style model built from the ops, against a float64 forward.

interface Tiny {
  dim: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  layers: number;
  ctx: number;
}
const T: Tiny = { dim: 32, hidden: 64, heads: 4, kvHeads: 2, headDim: 8, vocab: 40, layers: 2, ctx: 16 };

function tinyWeights(seed: number) {
  const kv = T.kvHeads * T.headDim;
  const mk = (n: number, s: number, scale = 0.4) => randomF32(n, seed * 1000 + s, scale);
  const layers = Array.from({ length: T.layers }, (_, l) => ({
    attnNorm: Float32Array.from(mk(T.dim, 10 * l + 1), (x) => 1 + 0.2 * x),
    wq: mk(T.dim * T.dim, 10 * l + 2),
    wk: mk(kv * T.dim, 10 * l + 3),
    wv: mk(kv * T.dim, 10 * l + 4),
    wo: mk(T.dim * T.dim, 10 * l + 5),
    ffnNorm: Float32Array.from(mk(T.dim, 10 * l + 6), (x) => 1 + 0.2 * x),
    w1: mk(T.hidden * T.dim, 10 * l + 7),
    w2: mk(T.dim * T.hidden, 10 * l + 8),
    w3: mk(T.hidden * T.dim, 10 * l + 9),
  }));
  return { emb: mk(T.vocab * T.dim, 900, 1), layers, norm: Float32Array.from(mk(T.dim, 901), (x) => 1 + 0.2 * x), cls: mk(T.vocab * T.dim, 902) };
}

const invFreq = Float32Array.from({ length: T.headDim / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / T.headDim));

/** float64 forward of tokens[0..] one at a time; logits per position. */
function referenceForward(w: ReturnType<typeof tinyWeights>, tokens: number[]): Float64Array[] {
  const kvw = T.kvHeads * T.headDim;
  const kc = Array.from({ length: T.layers }, () => new Float64Array(T.ctx * kvw));
  const vc = Array.from({ length: T.layers }, () => new Float64Array(T.ctx * kvw));
  const mv = (m: Float32Array, x: Float64Array, N: number, K: number) =>
    Float64Array.from({ length: N }, (_, r) => x.reduce((s, xv, k) => s + m[r * K + k] * xv, 0));
  const norm = (x: Float64Array, g: Float32Array) => {
    const inv = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + 1e-5);
    return x.map((v, j) => v * inv * g[j]);
  };
  const rope = (x: Float64Array, heads: number, pos: number) => {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < T.headDim / 2; i++) {
        const a = pos * invFreq[i];
        const o = h * T.headDim + 2 * i;
        const [x0, x1] = [x[o], x[o + 1]];
        x[o] = x0 * Math.cos(a) - x1 * Math.sin(a);
        x[o + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
      }
    }
  };
  const logits: Float64Array[] = [];
  tokens.forEach((tok, pos) => {
    let x = Float64Array.from(w.emb.subarray(tok * T.dim, (tok + 1) * T.dim));
    w.layers.forEach((L, l) => {
      const h = norm(x, L.attnNorm);
      const q = mv(L.wq, h, T.dim, T.dim);
      const k = mv(L.wk, h, kvw, T.dim);
      const v = mv(L.wv, h, kvw, T.dim);
      rope(q, T.heads, pos);
      rope(k, T.kvHeads, pos);
      kc[l].set(k, pos * kvw);
      vc[l].set(v, pos * kvw);
      const att = new Float64Array(T.dim);
      for (let hh = 0; hh < T.heads; hh++) {
        const kh = Math.floor((hh * T.kvHeads) / T.heads);
        const sc = Array.from({ length: pos + 1 }, (_, p) => {
          let s = 0;
          for (let j = 0; j < T.headDim; j++) s += q[hh * T.headDim + j] * kc[l][p * kvw + kh * T.headDim + j];
          return s / Math.sqrt(T.headDim);
        });
        const m = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < T.headDim; j++) {
          att[hh * T.headDim + j] = e.reduce((s, ep, p) => s + (ep / z) * vc[l][p * kvw + kh * T.headDim + j], 0);
        }
      }
      x = x.map((xv, j) => xv + mv(L.wo, att, T.dim, T.dim)[j]);
      const h2 = norm(x, L.ffnNorm);
      const g = mv(L.w1, h2, T.hidden, T.dim);
      const u = mv(L.w3, h2, T.hidden, T.dim);
      const f = mv(L.w2, g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]), T.dim, T.hidden);
      x = x.map((xv, j) => xv + f[j]);
    });
    logits.push(mv(w.cls, norm(x, w.norm), T.vocab, T.dim));
  });
  return logits;
}

async function buildTiny(be: Backend, w: ReturnType<typeof tinyWeights>, dtype: 'f32' | 'f16' | 'q8_0', maxRows: number) {
  const kvw = T.kvHeads * T.headDim;
  const up = async (name: string, shape: number[], v: Float32Array, dt: 'f32' | 'f16' | 'q8_0' = dtype) =>
    (await upload(be, name, dt, shape, v)).weight;
  const B = (cols: number, label: string, rows = maxRows): DeviceBuffer => be.createBuffer('f32', [rows, cols], label);
  const ids = be.createBuffer('i32', [maxRows, 1], 'ids');
  const x = B(T.dim, 'x');
  const h = B(T.dim, 'h');
  const q = B(T.dim, 'q');
  const k = B(kvw, 'k');
  const v = B(kvw, 'v');
  const att = B(T.dim, 'att');
  const o = B(T.dim, 'o');
  const g = B(T.hidden, 'g');
  const u = B(T.hidden, 'u');
  const logits = B(T.vocab, 'logits');
  const ops: Op[] = [{ kind: 'embed', table: await up('emb', [T.vocab, T.dim], w.emb, 'f32'), ids, out: x }];
  for (const [l, L] of w.layers.entries()) {
    const kCache = B(kvw, `k${l}`, T.ctx);
    const vCache = B(kvw, `v${l}`, T.ctx);
    ops.push(
      { kind: 'rmsnorm', x, weight: await up(`an${l}`, [T.dim], L.attnNorm, 'f32'), eps: 1e-5, out: h },
      { kind: 'matmul', x: h, weight: await up(`wq${l}`, [T.dim, T.dim], L.wq), out: q },
      { kind: 'matmul', x: h, weight: await up(`wk${l}`, [kvw, T.dim], L.wk), out: k },
      { kind: 'matmul', x: h, weight: await up(`wv${l}`, [kvw, T.dim], L.wv), out: v },
      { kind: 'rope', x: q, heads: T.heads, headDim: T.headDim, ropeDim: T.headDim, style: 'adjacent', invFreq },
      { kind: 'rope', x: k, heads: T.kvHeads, headDim: T.headDim, ropeDim: T.headDim, style: 'adjacent', invFreq },
      { kind: 'kv_store', k, v, kCache, vCache },
      { kind: 'attention', q, kCache, vCache, out: att, heads: T.heads, kvHeads: T.kvHeads, headDim: T.headDim, scale: 1 / Math.sqrt(T.headDim) },
      { kind: 'matmul', x: att, weight: await up(`wo${l}`, [T.dim, T.dim], L.wo), out: o },
      { kind: 'add', a: x, b: o, out: x },
      { kind: 'rmsnorm', x, weight: await up(`fn${l}`, [T.dim], L.ffnNorm, 'f32'), eps: 1e-5, out: h },
      { kind: 'matmul', x: h, weight: await up(`w1${l}`, [T.hidden, T.dim], L.w1), out: g },
      { kind: 'matmul', x: h, weight: await up(`w3${l}`, [T.hidden, T.dim], L.w3), out: u },
      { kind: 'silu_mul', gate: g, up: u, out: g },
      { kind: 'matmul', x: g, weight: await up(`w2${l}`, [T.dim, T.hidden], L.w2), out: o },
      { kind: 'add', a: x, b: o, out: x },
    );
  }
  ops.push(
    { kind: 'rmsnorm', x, weight: await up('norm', [T.dim], w.norm, 'f32'), eps: 1e-5, out: h },
    { kind: 'matmul', x: h, weight: await up('cls', [T.vocab, T.dim], w.cls, 'f32'), out: logits },
  );
  const program = be.compile({ label: `tiny-${dtype}`, maxRows, ops, outputs: [{ buffer: logits, rows: 'active' }] });
  return { program, ids };
}

describe('a tiny two-layer model built from the ops', () => {
  const tokens = [1, 7, 39, 0, 22, 22, 5];
  const w = tinyWeights(3);
  const ref = referenceForward(w, tokens);

  it('f32: decode token by token and one prefill chunk match the float64 forward', async () => {
    const be = new CpuBackend();
    const dec = await buildTiny(be, w, 'f32', 1);
    for (const [pos, tok] of tokens.entries()) {
      const [logits] = await be.run(dec.program, { pos, n: 1, inputs: [{ buffer: dec.ids, data: new Int32Array([tok]) }] });
      expectClose(logits, ref[pos], 2e-5, 2e-5);
    }
    const be2 = new CpuBackend();
    const pre = await buildTiny(be2, w, 'f32', 8);
    // Prefill 4 tokens, then 3 more as a second chunk at pos 4.
    const [a] = await be2.run(pre.program, { pos: 0, n: 4, inputs: [{ buffer: pre.ids, data: Int32Array.from(tokens.slice(0, 4)) }] });
    const [b] = await be2.run(pre.program, { pos: 4, n: 3, inputs: [{ buffer: pre.ids, data: Int32Array.from(tokens.slice(4)) }] });
    for (let t = 0; t < 4; t++) expectClose(a.subarray(t * T.vocab, (t + 1) * T.vocab), ref[t], 2e-5, 2e-5);
    for (let t = 0; t < 3; t++) expectClose(b.subarray(t * T.vocab, (t + 1) * T.vocab), ref[4 + t], 2e-5, 2e-5);
  });

  it('f16 and q8_0 weights stay close to the f32 forward, decode and prefill agree', async () => {
    for (const [dtype, tol] of [
      ['f16', 5e-3],
      ['q8_0', 5e-2],
    ] as const) {
      const be = new CpuBackend();
      const dec = await buildTiny(be, w, dtype, 1);
      const pre = await buildTiny(be, w, dtype, 8);
      const [all] = await be.run(pre.program, { pos: 0, n: tokens.length, inputs: [{ buffer: pre.ids, data: Int32Array.from(tokens) }] });
      for (const [pos, tok] of tokens.entries()) {
        const [logits] = await be.run(dec.program, { pos, n: 1, inputs: [{ buffer: dec.ids, data: new Int32Array([tok]) }] });
        expectClose(logits, ref[pos], tol, tol);
        expectClose(logits, all.subarray(pos * T.vocab, (pos + 1) * T.vocab), 1e-5, 1e-5);
      }
    }
  });
});
