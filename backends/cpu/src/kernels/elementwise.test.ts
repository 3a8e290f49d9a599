/** embed, kv_store, silu_mul, add, last_row, argmax. */
import { describe, expect, it } from 'vitest';
import { InvalidProgramError } from '@bitexit/backend';
import { CpuBackend } from '../backend.js';
import { buffer, expectClose, randomF32, runOps, upload } from '../testing/helpers.js';

describe('embed', () => {
  for (const dtype of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
    it(`${dtype} table: rows copied exactly as decoded`, async () => {
      const be = new CpuBackend();
      const V = 10;
      const D = 64;
      const { weight, exact } = await upload(be, 'emb', dtype, [V, D], randomF32(V * D, 3));
      const ids = buffer(be, 4, 1, 'ids', new Int32Array([9, 0, 3, 9]));
      const out = buffer(be, 4, D, 'out');
      const [y] = await runOps(be, 4, [{ kind: 'embed', table: weight, ids, out }], [{ buffer: out, rows: 'active' }], { pos: 0, n: 3 });
      expect([...y]).toEqual([...exact.subarray(9 * D, 10 * D), ...exact.subarray(0, D), ...exact.subarray(3 * D, 4 * D)]);
      await be.dispose();
    });
  }

  it('rejects an id outside the vocabulary with InvalidProgramError', async () => {
    const be = new CpuBackend();
    const { weight } = await upload(be, 'emb', 'f32', [4, 2], randomF32(8, 1));
    const ids = buffer(be, 1, 1, 'ids', new Int32Array([4]));
    const out = buffer(be, 1, 2, 'out');
    const p = be.compile({ label: 'emb', maxRows: 1, ops: [{ kind: 'embed', table: weight, ids, out }], outputs: [] });
    await expect(be.run(p, { pos: 0, n: 1 })).rejects.toThrow(InvalidProgramError);
    await expect(be.run(p, { pos: 0, n: 1, inputs: [{ buffer: ids, data: new Int32Array([-1]) }] })).rejects.toThrow(/outside the vocabulary/);
    const [ok] = await be.run(p, { pos: 0, n: 1, inputs: [{ buffer: ids, data: new Int32Array([3]) }] });
    expect(ok).toBeUndefined();
  });
});

describe('kv_store', () => {
  it('writes rows pos..pos+n-1 of both caches and nothing else', async () => {
    const be = new CpuBackend();
    const kv = randomF32(3 * 4, 1);
    const vv = randomF32(3 * 2, 2);
    const k = buffer(be, 3, 4, 'k', kv);
    const v = buffer(be, 3, 2, 'v', vv);
    const kCache = buffer(be, 8, 4, 'kc', new Float32Array(32).fill(-1));
    const vCache = buffer(be, 8, 2, 'vc', new Float32Array(16).fill(-1));
    const [kc, vc] = await runOps(be, 3, [{ kind: 'kv_store', k, v, kCache, vCache }], [
      { buffer: kCache, rows: 8 },
      { buffer: vCache, rows: 8 },
    ], { pos: 5, n: 2 });
    expect([...kc.subarray(0, 20)]).toEqual(new Array(20).fill(-1));
    expect([...kc.subarray(20, 28)]).toEqual([...kv.subarray(0, 8)]);
    expect([...kc.subarray(28)]).toEqual([-1, -1, -1, -1]);
    expect([...vc.subarray(10, 14)]).toEqual([...vv.subarray(0, 4)]);
    expect([...vc.subarray(0, 10)]).toEqual(new Array(10).fill(-1));
  });
});

describe('silu_mul, add, last_row', () => {
  it('silu_mul = g / (1 + exp(-g)) * u on the active rows, including extreme gates', async () => {
    const be = new CpuBackend();
    const g = randomF32(12, 4, 6);
    g[0] = 100;
    g[1] = -100;
    g[2] = 0;
    const u = randomF32(12, 5);
    const gate = buffer(be, 3, 4, 'g', g);
    const up = buffer(be, 3, 4, 'u', u);
    const out = buffer(be, 3, 4, 'o', new Float32Array(12).fill(9));
    const [y] = await runOps(be, 3, [{ kind: 'silu_mul', gate, up, out }], [{ buffer: out, rows: 3 }], { pos: 0, n: 2 });
    const ref = Array.from({ length: 8 }, (_, i) => (g[i] / (1 + Math.exp(-g[i]))) * u[i]);
    expectClose(y.subarray(0, 8), ref, 1e-7, 1e-6);
    expect([...y.subarray(8)]).toEqual([9, 9, 9, 9]);
  });

  it('add, also in place (out = a)', async () => {
    const be = new CpuBackend();
    const av = randomF32(6, 1);
    const bv = randomF32(6, 2);
    const a = buffer(be, 2, 3, 'a', av);
    const b = buffer(be, 2, 3, 'b', bv);
    const [y] = await runOps(be, 2, [{ kind: 'add', a, b, out: a }], [{ buffer: a, rows: 'active' }], { pos: 0, n: 2 });
    expect([...y]).toEqual(Array.from(av, (x, i) => Math.fround(x + bv[i])));
  });

  it('last_row copies row n-1 to row 0, also in place', async () => {
    const be = new CpuBackend();
    const xv = randomF32(12, 3);
    const x = buffer(be, 4, 3, 'x', xv);
    const out = buffer(be, 1, 3, 'o');
    const [y] = await runOps(be, 4, [{ kind: 'last_row', x, out }], [{ buffer: out, rows: 1 }], { pos: 0, n: 3 });
    expect([...y]).toEqual([...xv.subarray(6, 9)]);
    const [z] = await runOps(be, 4, [{ kind: 'last_row', x, out: x }], [{ buffer: x, rows: 1 }], { pos: 0, n: 4 });
    expect([...z]).toEqual([...xv.subarray(9, 12)]);
  });
});

describe('argmax', () => {
  async function argmax(values: number[]): Promise<number> {
    const be = new CpuBackend();
    const x = buffer(be, 1, values.length, 'x', new Float32Array(values));
    const out = be.createBuffer('i32', [1, 1], 'o');
    const [y] = await runOps(be, 1, [{ kind: 'argmax', x, out }], [{ buffer: out, rows: 1 }], { pos: 0, n: 1 });
    expect(y).toBeInstanceOf(Int32Array);
    return y[0];
  }
  it('largest value, lowest index on ties, NaN never wins', async () => {
    expect(await argmax([1, 3, 2])).toBe(1);
    expect(await argmax([5, 1, 5, 5])).toBe(0);
    expect(await argmax([-2, -1, -1])).toBe(1);
    expect(await argmax([NaN, -Infinity, -5])).toBe(2);
    expect(await argmax([-Infinity, -Infinity])).toBe(0);
    expect(await argmax([NaN, NaN])).toBe(0);
    const big = Array.from(randomF32(5000, 9));
    expect(await argmax(big)).toBe(big.indexOf(Math.max(...big)));
  });
});
