import { describe, expect, it } from 'vitest';
import type { WeightDType } from '@bitexit/format';
import { CpuBackend } from '../backend.js';
import { buffer, expectClose, matmulReference, randomF32, runOps, upload } from '../testing/helpers.js';

const reference = matmulReference;

async function check(dtype: WeightDType, N: number, K: number, n: number, maxRows = n, withBias = false) {
  const be = new CpuBackend();
  const { weight, exact } = await upload(be, 'w', dtype, [N, K], randomF32(N * K, 11 + N + K));
  const xv = randomF32(maxRows * K, 5 + n);
  const bv = randomF32(N, 99);
  const bias = withBias ? (await upload(be, 'b', 'f32', [N], bv)).weight : undefined;
  const x = buffer(be, maxRows, K, 'x', xv);
  const out = buffer(be, maxRows, N, 'out');
  const [y] = await runOps(be, maxRows, [{ kind: 'matmul', x, weight, out, ...(bias ? { bias } : {}) }], [{ buffer: out, rows: 'active' }], {
    pos: 0,
    n,
  });
  expect(y.length).toBe(n * N);
  // The weights are exactly `exact`: only accumulation order/rounding may differ.
  expectClose(y, reference(exact, xv, n, N, K, withBias ? bv : undefined), 1e-5 * Math.sqrt(K), 1e-6);
  await be.dispose();
}

describe('matmul', () => {
  const shapes: [number, number][] = [
    [1, 32],
    [3, 64],
    [64, 64],
    [172, 64],
    [7, 96],
    [33, 160],
  ];
  for (const dtype of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
    for (const [N, K] of shapes) {
      it(`${dtype} [${N}, ${K}] decode (n=1) and prefill (n=1..9)`, async () => {
        await check(dtype, N, K, 1);
        await check(dtype, N, K, 5, 8);
        await check(dtype, N, K, 9);
      });
    }
  }
  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(`${dtype}: K not a multiple of 4 (K = 1, 3, 5, 7, 13), odd N`, async () => {
      for (const K of [1, 3, 5, 7, 13]) {
        await check(dtype, 5, K, 1);
        await check(dtype, 5, K, 6);
      }
    });
  }
  for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
    it(`${dtype} with bias, n = 1 and n = 7`, async () => {
      await check(dtype, 9, 64, 1, 1, true);
      await check(dtype, 9, 64, 7, 7, true);
    });
  }

  it('only touches the active rows', async () => {
    const be = new CpuBackend();
    const { weight } = await upload(be, 'w', 'f32', [4, 4], randomF32(16, 1));
    const x = buffer(be, 4, 4, 'x', randomF32(16, 2));
    const out = buffer(be, 4, 4, 'out', new Float32Array(16).fill(7));
    await runOps(be, 4, [{ kind: 'matmul', x, weight, out }], [], { pos: 0, n: 2 });
    const all = await be.readBuffer(out);
    expect([...all.subarray(8)]).toEqual(new Array(8).fill(7));
    expect(all[0]).not.toBe(7);
  });

  it('decodes q8_0 scales and negative int8 exactly (hand-built block)', async () => {
    const be = new CpuBackend();
    // One row of 32: scale 0.5 (f16 0x3800), q = -128..-97 → w = q/2.
    const data = new Uint8Array(34);
    data[0] = 0x00;
    data[1] = 0x38;
    for (let i = 0; i < 32; i++) data[2 + i] = (-128 + i) & 0xff;
    const weight = await be.uploadWeight({ name: 'q', dtype: 'q8_0', shape: [1, 32], data });
    const x = buffer(be, 1, 32, 'x', new Float32Array(32).fill(1));
    const out = buffer(be, 1, 1, 'out');
    const [y] = await runOps(be, 1, [{ kind: 'matmul', x, weight, out }], [{ buffer: out, rows: 1 }], { pos: 0, n: 1 });
    let expected = 0;
    for (let i = 0; i < 32; i++) expected += (-128 + i) * 0.5;
    expect(y[0]).toBe(expected);
  });
});
