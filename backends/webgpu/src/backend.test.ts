// WebGPU-specific behaviour beyond the conformance suite: weight splitting
// over the storage-binding limit, provider failure reasons, device loss,
// aliasing of buffers inside one op. Skips (with the reason) without an adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, DeviceLostError, type Backend, type DeviceWeight, type Program } from '@bitexit/backend';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { encodeF16, encodeF32, encodeQ8_0, encodeBx, quantizeBxRtn, roundF16, type HostTensor } from '@bitexit/format';
import { createWebGpuBackend, webgpuBackendProvider, type WebGpuBackendOptions } from './index.js';
import { selfCheck } from './provider.js';

const availability = await webgpuBackendProvider.probe();
/** Both code paths: the adapter's features, and the fallback (packed f16, workgroup-memory reductions). */
const PATHS: [string, WebGpuBackendOptions][] = [
  ['default features', {}],
  ['fallback', { disableFeatures: ['shader-f16', 'subgroups'] }],
];
if (!availability.ok) console.warn(`[backend-webgpu] tests skipped: ${availability.reason}`);

function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  });
}

function tensor(dtype: 'f32' | 'f16' | 'q8_0' | 'bx', rows: number, cols: number, seed: number): HostTensor {
  const v = values(rows * cols, seed);
  const data =
    dtype === 'f32' ? encodeF32(v) : dtype === 'f16' ? encodeF16(v) : dtype === 'q8_0' ? encodeQ8_0(v, [rows, cols]) : encodeBx(quantizeBxRtn(v, rows, cols));
  return { name: `${dtype}-${rows}x${cols}`, dtype, shape: [rows, cols], data };
}

/** Runs embed + matmul (n = 1 and n = 3) of one weight on a backend. */
async function embedAndMatmul(be: Backend, host: HostTensor): Promise<Float32Array[]> {
  const [N, K] = host.shape;
  const w: DeviceWeight = await be.uploadWeight(host);
  const x = be.createBuffer('f32', [3, K], 'x');
  const out = be.createBuffer('f32', [3, N], 'out');
  const ids = be.createBuffer('i32', [3, 1], 'ids');
  const rows = be.createBuffer('f32', [3, K], 'rows');
  be.writeBuffer(x, values(3 * K, 99));
  const program: Program = {
    label: 'split',
    maxRows: 3,
    ops: [
      { kind: 'matmul', x, weight: w, out },
      { kind: 'embed', table: w, ids, out: rows },
    ],
    outputs: [
      { buffer: out, rows: 'active' },
      { buffer: rows, rows: 'active' },
    ],
  };
  const c = be.compile(program);
  const results: Float32Array[] = [];
  for (const n of [1, 3]) {
    const got = await be.run(c, { pos: 0, n, inputs: [{ buffer: ids, data: Int32Array.of(N - 1, 0, Math.floor(N / 2)) }] });
    results.push(...(got as Float32Array[]));
  }
  for (const r of [c, x, out, ids, rows, w]) be.release(r);
  return results;
}

describe.skipIf(!availability.ok)('webgpu backend', () => {
  let cpu: Backend;
  beforeAll(async () => {
    cpu = await createCpuBackend();
  });
  afterAll(async () => {
    await cpu?.dispose();
  });

  it('splits weights larger than the storage binding limit into row chunks (same results as unsplit)', async () => {
    const small = await createWebGpuBackend({ maxStorageBindingBytes: 4096 });
    try {
      // Activation buffers are never split: over the limit is a typed out-of-memory error.
      expect(() => small.createBuffer('f32', [64, 64], 'big')).toThrow(expect.objectContaining({ code: 'E_OUT_OF_MEMORY' }));
      for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
        const host = tensor(dtype, 67, 64, 7);
        const got = await embedAndMatmul(small, host);
        const want = await embedAndMatmul(cpu, host);
        got.forEach((g, i) => {
          expect(g.length).toBe(want[i].length);
          for (let j = 0; j < g.length; j++) expect(Math.abs(g[j] - want[i][j])).toBeLessThan(1e-4 * (1 + Math.abs(want[i][j])));
        });
      }
      // bx blobs are split too (chunks of lcm(32, SR) rows, each re-laid out as its own planes).
      for (const secondOrder of [false, true]) {
        const v = values(150 * 200, 5);
        const m = quantizeBxRtn(v, 150, 200, { groupSize: 64, widths: [2, 3, 4], secondOrder, superGroup: { rows: 16, groups: 2 }, scaleBits: 6 });
        const at: number[] = [];
        for (let i = 1; i < v.length; i += 97) if (roundF16(v[i]) !== 0) at.push(i);
        m.outliers = { rows: Uint32Array.from(at, (i) => Math.floor(i / 200)), cols: Uint32Array.from(at, (i) => i % 200), values: Float32Array.from(at, (i) => roundF16(v[i] * 3)) };
        const host: HostTensor = { name: 'bx-split', dtype: 'bx', shape: [150, 200], data: encodeBx(m) };
        expect(host.data.byteLength).toBeGreaterThan(2 * 4096);
        const got = await embedAndMatmul(small, host);
        const want = await embedAndMatmul(cpu, host);
        got.forEach((g, i) => {
          for (let j = 0; j < g.length; j++) expect(Math.abs(g[j] - want[i][j]), `bx split output ${i}[${j}]`).toBeLessThan(1e-4 * (1 + Math.abs(want[i][j])));
        });
      }
    } finally {
      await small.dispose();
    }
  });

  it.each(PATHS)('bx matvec and tiled matmul agree with the CPU backend for G = 32/64/128, full and partial groups, outliers, both scale orders (%s)', async (_name, options) => {
    const be = await createWebGpuBackend(options);
    try {
      // Each group size is its own shader; the fallback path keeps to G = 64 (G = 32 runs in the conformance suite) to bound shader-compile time on lavapipe.
      const configs = [[64, 256, true], [64, 200, false], [128, 384, true], [128, 300, false], [32, 96, false]] as const;
      for (const [G, K, secondOrder] of _name === 'fallback' ? configs.filter(([g]) => g === 64) : configs) {
        const N = 37;
        const v = values(N * K, G + K);
        const m = quantizeBxRtn(v, N, K, { groupSize: G, widths: [2, 3, 4, 4, 2], secondOrder, scaleBits: 8, superGroup: { rows: 16, groups: 1 } });
        const at: number[] = [];
        for (let i = 3; i < v.length; i += 53) if (roundF16(v[i]) !== 0) at.push(i);
        m.outliers = {
          rows: Uint32Array.from(at, (i) => Math.floor(i / K)),
          cols: Uint32Array.from(at, (i) => i % K),
          values: Float32Array.from(at, (i) => roundF16(v[i] * 4)),
        };
        const host: HostTensor = { name: `bx-g${G}-k${K}`, dtype: 'bx', shape: [N, K], data: encodeBx(m) };
        const got = await embedAndMatmul(be, host);
        const want = await embedAndMatmul(cpu, host);
        got.forEach((g, i) => {
          for (let j = 0; j < g.length; j++) expect(Math.abs(g[j] - want[i][j]), `G=${G} K=${K} output ${i}[${j}]`).toBeLessThan(1e-4 * (1 + Math.abs(want[i][j])));
        });
      }
    } finally {
      await be.dispose();
    }
  });

  it.each(PATHS)('decode attention split over the sequence (several 64-position chunks, with and without the mask policy) equals the CPU (%s)', async (_name, options) => {
    const be = await createWebGpuBackend(options);
    try {
      const [heads, kvHeads, hd, ctx] = [4, 2, 16, 300];
      const run = async (b: Backend, pos: number, masked: boolean) => {
        const q = b.createBuffer('f32', [2, heads * hd], 'q');
        const kc = b.createBuffer('f32', [ctx, kvHeads * hd], 'k');
        const vc = b.createBuffer('f32', [ctx, kvHeads * hd], 'v');
        const out = b.createBuffer('f32', [2, heads * hd], 'out');
        const rec = b.createBuffer('i32', [ctx, 1], 'rec');
        b.writeBuffer(q, values(2 * heads * hd, 1));
        b.writeBuffer(kc, values(ctx * kvHeads * hd, 2).map((v) => v * 3));
        b.writeBuffer(vc, values(ctx * kvHeads * hd, 3));
        b.writeBuffer(rec, Int32Array.from({ length: ctx }, (_, i) => i % 4));
        const op = { kind: 'attention' as const, q, kCache: kc, vCache: vc, out, heads, kvHeads, headDim: hd, scale: 0.25, ...(masked ? { exitLayers: rec, layer: 2 } : {}) };
        const c = b.compile({ label: 'att', maxRows: 2, ops: [op], outputs: [{ buffer: out, rows: 'active' }] });
        const [got] = await b.run(c, { pos, n: 1 });
        for (const r of [c, q, kc, vc, out, rec]) b.release(r);
        return got as Float32Array;
      };
      for (const pos of [0, 63, 64, 200, 299]) {
        for (const masked of [false, true]) {
          const got = await run(be, pos, masked);
          const want = await run(cpu, pos, masked);
          for (let j = 0; j < want.length; j++) expect(Math.abs(got[j] - want[j]), `pos ${pos} masked ${masked} [${j}]`).toBeLessThan(1e-5);
        }
      }
    } finally {
      await be.dispose();
    }
  });

  it('reports its code path in capabilities and accumulates in f32', async () => {
    const be = await createWebGpuBackend({ disableFeatures: ['shader-f16', 'subgroups'] });
    try {
      expect(be.capabilities.floatPrecision).toBe(32);
      expect(be.capabilities.device).toContain('f32 (packed f16)');
      expect(be.capabilities.device).toContain('workgroup-memory reductions');
      expect(be.capabilities.weightDTypes).toEqual(expect.arrayContaining(['f32', 'f16', 'bf16', 'q8_0', 'bx']));
    } finally {
      await be.dispose();
    }
  });

  it('turns a lost device into DeviceLostError on the next call', async () => {
    const be = await createWebGpuBackend();
    const a = be.createBuffer('f32', [1, 4], 'a');
    const c = be.compile({ label: 'lost', maxRows: 1, ops: [{ kind: 'add', a, b: a, out: a }], outputs: [{ buffer: a, rows: 1 }] });
    await be.run(c, { pos: 0, n: 1 });
    (be as unknown as { gpuDevice: GPUDevice }).gpuDevice.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await expect(be.run(c, { pos: 0, n: 1 })).rejects.toBeInstanceOf(DeviceLostError);
    await be.dispose();
  });

  it('replays a program with changing n and pos without re-recording bind groups', async () => {
    const be = await createWebGpuBackend();
    try {
      const k = be.createBuffer('f32', [4, 2], 'k');
      const cache = be.createBuffer('f32', [8, 2], 'cache');
      const c = be.compile({ label: 'kv', maxRows: 4, ops: [{ kind: 'kv_store', k, v: k, kCache: cache, vCache: cache }], outputs: [{ buffer: cache, rows: 8 }] });
      be.writeBuffer(k, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      await be.run(c, { pos: 0, n: 2 });
      const [got] = await be.run(c, { pos: 5, n: 3 });
      expect(Array.from(got)).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    } finally {
      await be.dispose();
    }
  });
});

describe('webgpu provider failures', () => {
  it('the numerics self-check passes on a correct backend and names the problem on a broken one', async () => {
    const good = await createCpuBackend();
    expect(await selfCheck(good)).toBeNull();
    // A "driver" that returns slightly wrong products.
    const broken = Object.create(good) as Backend;
    broken.run = async (p, params) => (await good.run(p, params)).map((a) => (a as Float32Array).map((v, i) => (i === 2 ? v + 0.01 : v)));
    expect(await selfCheck(broken)).toMatch(/f32 matmul row 2 token 0: got/);
    await good.dispose();
  });

  it('says plainly when there is no adapter', async () => {
    const fake = { requestAdapter: async () => null } as unknown as GPU;
    const err = await createWebGpuBackend({ gpu: fake }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/no WebGPU adapter found/);
  });

  it('probe never throws', async () => {
    const a = await webgpuBackendProvider.probe();
    expect(typeof a.ok).toBe('boolean');
    if (a.ok) expect(a.detail).toMatch(/WebGPU/);
    else expect(a.reason.length).toBeGreaterThan(10);
  });
});
