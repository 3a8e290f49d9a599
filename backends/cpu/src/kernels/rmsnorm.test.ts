import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../backend.js';
import { buffer, expectClose, randomF32, runOps, upload } from '../testing/helpers.js';

function reference(x: Float32Array, w: Float32Array, n: number, D: number, eps: number): Float64Array {
  const out = new Float64Array(n * D);
  for (let t = 0; t < n; t++) {
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[t * D + j] ** 2;
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let j = 0; j < D; j++) out[t * D + j] = x[t * D + j] * inv * w[j];
  }
  return out;
}

describe('rmsnorm', () => {
  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    for (const D of [1, 7, 64, 288]) {
      it(`${dtype} weight, dim ${D}, n = 1 and n = 5`, async () => {
        const be = new CpuBackend();
        const { weight, exact } = await upload(be, 'g', dtype, [D], randomF32(D, D, 2));
        for (const n of [1, 5]) {
          const xv = randomF32(5 * D, 3 * D + n, 3);
          const x = buffer(be, 5, D, 'x', xv);
          const out = buffer(be, 5, D, 'out');
          const [y] = await runOps(be, 5, [{ kind: 'rmsnorm', x, weight, eps: 1e-5, out }], [{ buffer: out, rows: 'active' }], { pos: 0, n });
          expectClose(y, reference(xv, exact, n, D, 1e-5), 1e-6, 1e-6);
        }
        await be.dispose();
      });
    }
  }

  it('q8_0 weight and in-place (out = x)', async () => {
    const be = new CpuBackend();
    const { weight, exact } = await upload(be, 'g', 'q8_0', [64], randomF32(64, 4));
    const xv = randomF32(128, 8);
    const x = buffer(be, 2, 64, 'x', xv);
    const [y] = await runOps(be, 2, [{ kind: 'rmsnorm', x, weight, eps: 1e-6, out: x }], [{ buffer: x, rows: 'active' }], { pos: 0, n: 2 });
    expectClose(y, reference(xv, exact, 2, 64, 1e-6), 1e-6, 1e-6);
  });

  it('eps dominates an all-zero row (no NaN)', async () => {
    const be = new CpuBackend();
    const { weight } = await upload(be, 'g', 'f32', [4], new Float32Array([1, 1, 1, 1]));
    const x = buffer(be, 1, 4, 'x');
    const out = buffer(be, 1, 4, 'out');
    const [y] = await runOps(be, 1, [{ kind: 'rmsnorm', x, weight, eps: 1e-5, out }], [{ buffer: out, rows: 1 }], { pos: 0, n: 1 });
    expect([...y]).toEqual([0, 0, 0, 0]);
  });
});
