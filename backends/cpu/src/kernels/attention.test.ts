import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../backend.js';
import { buffer, expectClose, randomF32, runOps } from '../testing/helpers.js';

function reference(
  q: Float32Array,
  kc: Float32Array,
  vc: Float32Array,
  n: number,
  pos: number,
  heads: number,
  kvHeads: number,
  hd: number,
  scale: number,
): Float64Array {
  const out = new Float64Array(n * heads * hd);
  const group = heads / kvHeads;
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      const L = pos + t + 1;
      const sc = new Float64Array(L);
      for (let p = 0; p < L; p++) {
        let s = 0;
        for (let j = 0; j < hd; j++) s += q[t * heads * hd + h * hd + j] * kc[p * kvHeads * hd + kh * hd + j];
        sc[p] = s * scale;
      }
      const m = Math.max(...sc);
      const e = sc.map((s) => Math.exp(s - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < hd; j++) {
        let s = 0;
        for (let p = 0; p < L; p++) s += (e[p] / z) * vc[p * kvHeads * hd + kh * hd + j];
        out[t * heads * hd + h * hd + j] = s;
      }
    }
  }
  return out;
}

describe('attention', () => {
  for (const [heads, kvHeads, hd] of [
    [4, 4, 8],
    [8, 4, 8],
    [8, 1, 16],
    [16, 2, 6],
    [2, 1, 3],
  ]) {
    it(`heads ${heads}, kvHeads ${kvHeads} (group ${heads / kvHeads}), headDim ${hd}`, async () => {
      const ctx = 24;
      const be = new CpuBackend();
      const kvw = kvHeads * hd;
      const kv = randomF32(ctx * kvw, heads + hd, 2);
      const vv = randomF32(ctx * kvw, heads * hd);
      for (const [pos, n] of [
        [0, 1],
        [9, 1],
        [0, 6],
        [11, 6],
        [ctx - 6, 6],
      ]) {
        // Rows past pos + n - 1 hold huge values: any look-ahead would show.
        const kPoison = kv.slice();
        const vPoison = vv.slice();
        for (let i = (pos + n) * kvw; i < ctx * kvw; i++) {
          kPoison[i] = 1e4;
          vPoison[i] = 1e4;
        }
        const qv = randomF32(6 * heads * hd, pos + n * 7, 1.5);
        const q = buffer(be, 6, heads * hd, 'q', qv);
        const kCache = buffer(be, ctx, kvw, 'k', kPoison);
        const vCache = buffer(be, ctx, kvw, 'v', vPoison);
        const out = buffer(be, 6, heads * hd, 'out');
        const scale = 1 / Math.sqrt(hd);
        const [y] = await runOps(
          be,
          6,
          [{ kind: 'attention', q, kCache, vCache, out, heads, kvHeads, headDim: hd, scale }],
          [{ buffer: out, rows: 'active' }],
          { pos, n },
        );
        expectClose(y, reference(qv, kv, vv, n, pos, heads, kvHeads, hd, scale), 1e-6, 1e-6);
      }
      await be.dispose();
    });
  }

  it('is stable for large scores (max subtraction) and a single key gives v exactly', async () => {
    const be = new CpuBackend();
    const q = buffer(be, 1, 4, 'q', new Float32Array([1000, 1000, 1000, 1000]));
    const kCache = buffer(be, 2, 4, 'k', new Float32Array([1, 1, 1, 1, 2, 2, 2, 2]));
    const vCache = buffer(be, 2, 4, 'v', new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
    const out = buffer(be, 1, 4, 'out');
    const op = { kind: 'attention' as const, q, kCache, vCache, out, heads: 1, kvHeads: 1, headDim: 4, scale: 1 };
    const [one] = await runOps(be, 1, [op], [{ buffer: out, rows: 1 }], { pos: 0, n: 1 });
    expect([...one]).toEqual([1, 2, 3, 4]);
    const [two] = await runOps(be, 1, [op], [{ buffer: out, rows: 1 }], { pos: 1, n: 1 });
    expect([...two]).toEqual([5, 6, 7, 8]); // exp(4000 - 8000) underflows to 0, no NaN
  });
});
