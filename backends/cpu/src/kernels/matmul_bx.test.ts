import { describe, expect, it } from 'vitest';
import { dequantizeBx, encodeBx, randomBxMatrix, type RandomBxOptions } from '@bitexit/format';
import { CpuBackend } from '../backend.js';
import { buffer, expectClose, matmulReference, randomF32, runOps, upload } from '../testing/helpers.js';

const reference = matmulReference;

async function check(o: RandomBxOptions, n: number, withBias = false, maxRows = n) {
  const be = new CpuBackend();
  try {
    const blob = encodeBx(randomBxMatrix(o));
    const exact = dequantizeBx(blob);
    const { rows: N, cols: K } = o;
    const weight = await be.uploadWeight({ name: 'w', dtype: 'bx', shape: [N, K], data: blob });
    const xv = randomF32(maxRows * K, 3 + n + K);
    const bv = randomF32(N, 17);
    const bias = withBias ? (await upload(be, 'b', 'f32', [N], bv)).weight : undefined;
    const x = buffer(be, maxRows, K, 'x', xv);
    const out = buffer(be, maxRows, N, 'out');
    const [y] = await runOps(be, maxRows, [{ kind: 'matmul', x, weight, out, ...(bias ? { bias } : {}) }], [{ buffer: out, rows: 'active' }], { pos: 0, n });
    const ref = reference(exact, xv, n, N, K, withBias ? bv : undefined);
    // |W|·|x| bounds the rounding of the sum: 1e-5 relative to it (and to each value).
    let scale = 0;
    for (let i = 0; i < exact.length; i++) scale = Math.max(scale, Math.abs(exact[i]));
    expectClose(y, ref, 1e-5 * scale * Math.sqrt(K), 1e-5);
  } finally {
    await be.dispose();
  }
}

describe('matmul[bx]', () => {
  const cases: Array<[string, RandomBxOptions]> = [
    ['2-bit', { rows: 9, cols: 128, widths: [2] }],
    ['3-bit, G=32', { rows: 6, cols: 96, groupSize: 32, widths: [3] }],
    ['4-bit, G=128', { rows: 5, cols: 256, groupSize: 128, widths: [4] }],
    ['mixed, partial last group', { rows: 17, cols: 200 }],
    ['mixed, K < G', { rows: 4, cols: 5 }],
    ['mixed, outliers', { rows: 13, cols: 150, outliers: 40 }],
    ['mixed, second order', { rows: 33, cols: 333, secondOrder: true }],
    ['mixed, second order 6-bit 2x3 tiles, outliers, partial group', { rows: 10, cols: 430, groupSize: 32, secondOrder: true, scaleBits: 6, superGroup: { rows: 2, groups: 3 }, outliers: 25 }],
    ['partial 3-bit last group, outliers', { rows: 7, cols: 100, widths: [2, 3], outliers: 9 }],
    ['partial 4-bit last group', { rows: 5, cols: 100, widths: [2, 4] }],
  ];
  cases.forEach(([name, o], i) => {
    it(`${name}: decode (n=1), prefill (n=2, 5 of 8, 9), bias`, async () => {
      const opts = { ...o, seed: 100 + i };
      await check(opts, 1);
      await check(opts, 1, true);
      await check(opts, 2);
      await check(opts, 5, true, 8);
      await check(opts, 9);
    });
  });

  it('is listed in capabilities and refuses a blob whose shape differs from the tensor shape', async () => {
    const be = new CpuBackend();
    expect(be.capabilities.weightDTypes).toContain('bx');
    const blob = encodeBx(randomBxMatrix({ rows: 3, cols: 64 }));
    await expect(be.uploadWeight({ name: 'w', dtype: 'bx', shape: [3, 65], data: blob })).rejects.toThrow(/bx blob is \[3, 64\]/);
    const bad = blob.slice();
    bad[0] ^= 1;
    await expect(be.uploadWeight({ name: 'w', dtype: 'bx', shape: [3, 64], data: bad })).rejects.toMatchObject({ code: 'E_MODEL_FORMAT' });
    await be.dispose();
  });

  it('embed[bx] returns exactly the dequantized rows', async () => {
    const be = new CpuBackend();
    const V = 11;
    const D = 100;
    const blob = encodeBx(randomBxMatrix({ rows: V, cols: D, outliers: 12, secondOrder: true, seed: 4 }));
    const exact = dequantizeBx(blob);
    const table = await be.uploadWeight({ name: 't', dtype: 'bx', shape: [V, D], data: blob });
    const ids = buffer(be, 4, 1, 'ids', Int32Array.from([3, 0, 10, 3]));
    const out = buffer(be, 4, D, 'out');
    const [y] = await runOps(be, 4, [{ kind: 'embed', table, ids, out }], [{ buffer: out, rows: 'active' }], { pos: 0, n: 4 });
    [3, 0, 10, 3].forEach((id, t) => expect(Array.from(y.subarray(t * D, (t + 1) * D))).toEqual(Array.from(exact.subarray(id * D, (id + 1) * D))));
    await be.dispose();
  });
});
