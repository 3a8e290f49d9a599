/** The oracle checked against hand-computed values, so it is not merely consistent with some backend. */
import { describe, expect, it } from 'vitest';
import type { SamplingParams } from '@bitexit/backend';
import { add, argmax, attention, embed, kvStore, lastRow, matmul, rmsnorm, rope, sample, sampleDistribution, siluMul } from './index.js';

const close = (a: ArrayLike<number>, b: number[], eps = 1e-12) => {
  expect(a.length).toBe(b.length);
  b.forEach((v, i) => expect(Math.abs(a[i] - v)).toBeLessThan(eps));
};

describe('oracle', () => {
  it('embed copies table rows and refuses bad ids', () => {
    close(embed(Float64Array.of(1, 2, 3, 4, 5, 6), 3, 2, [2, 0], 2), [5, 6, 1, 2]);
    expect(() => embed(new Float64Array(4), 2, 2, [2], 1)).toThrow(RangeError);
  });

  it('rmsnorm', () => {
    // x = [3, 4]: mean square 12.5 -> divide by sqrt(12.5 + eps).
    const s = 1 / Math.sqrt(12.5 + 1e-5);
    close(rmsnorm([3, 4], 1, 2, [1, 2], 1e-5), [3 * s, 8 * s]);
  });

  it('matmul uses [out, in] weights and bias', () => {
    // W = [[1,2,3],[4,5,6]], x = [1,0,-1] -> [-2, -2] + bias [10, 20]
    close(matmul([1, 0, -1], 1, [1, 2, 3, 4, 5, 6], 2, 3, [10, 20]), [8, 18]);
    close(matmul([1, 1, 1, 2, 2, 2], 2, [1, 2, 3, 4, 5, 6], 2, 3), [6, 15, 12, 30]);
  });

  it('rope adjacent and half styles rotate the right pairs', () => {
    const x = [1, 0, 0, 1, 7, 9]; // one head, headDim 6, ropeDim 4, dims 4..5 untouched
    const f = [1, 0.5];
    const c1 = Math.cos(2), s1 = Math.sin(2), c2 = Math.cos(1), s2 = Math.sin(1); // pos 2
    // adjacent: pairs (x0,x1) angle 2, (x2,x3) angle 1
    close(rope(x, 1, 2, 1, 6, 4, 'adjacent', f), [c1, s1, -s2, c2, 7, 9]);
    // half: pairs (x0,x2) angle 2, (x1,x3) angle 1
    close(rope(x, 1, 2, 1, 6, 4, 'half', f), [c1, -s2, s1, c2, 7, 9]);
    // row t sits at pos + t
    close(rope([1, 0, 1, 0], 2, 0, 1, 2, 2, 'adjacent', [1]), [1, 0, Math.cos(1), Math.sin(1)]);
  });

  it('kv_store writes rows pos..pos+n-1 only', () => {
    const cache = new Float64Array(8).fill(-1);
    kvStore(cache, [1, 2, 3, 4], 2, 1, 2, 4);
    close(cache, [-1, -1, 1, 2, 3, 4, -1, -1]);
    expect(() => kvStore(cache, [1, 2], 1, 4, 2, 4)).toThrow(RangeError);
  });

  it('attention: one position returns v; GQA maps heads to floor(h*kv/heads); causal', () => {
    // heads 4, kvHeads 2, headDim 1, pos 0: each head returns its kv head's v[0].
    close(attention([1, 1, 1, 1], [0, 0], [10, 20], 1, 0, 4, 2, 1, 1), [10, 10, 20, 20]);
    // two positions, equal scores -> mean; row 0 of a 2-row step sees only position 0.
    close(attention([0, 0], [1, 1], [2, 4], 2, 0, 1, 1, 1, 1), [2, 3]);
    // scores [0, ln 3]: weights 1/4, 3/4
    close(attention([Math.log(3)], [0, 1], [4, 8], 1, 1, 1, 1, 1, 1), [7]);
    // huge scores stay finite
    const out = attention([1000], [1000, -1000], [1, 2], 1, 1, 1, 1, 1, 1);
    close(out, [1]);
  });

  it('silu_mul, add, last_row, argmax', () => {
    close(siluMul([0, 1, -800, 800], [5, 2, 1, 3], 4), [0, 2 / (1 + Math.exp(-1)), 0, 2400]);
    close(add([1, 2], [3, 4], 2), [4, 6]);
    close(lastRow([1, 2, 3, 4, 5, 6], 2, 3), [4, 5, 6]);
    expect(argmax([1, 5, 5, 2], 4)).toBe(1);
    expect(argmax([-3, -2, -2], 3)).toBe(1);
    expect(argmax([7], 1)).toBe(0);
  });

  const base: SamplingParams = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, historyLength: 0, uniform: 0 };
  it('sample walks the CDF in descending-probability order', () => {
    const logits = [Math.log(0.1), Math.log(0.6), Math.log(0.3)];
    const d = sampleDistribution(logits, 3, base, []);
    expect(d.kind).toBe('random');
    if (d.kind === 'random') {
      expect(d.ids).toEqual([1, 2, 0]);
      close(d.probs, [0.6, 0.3, 0.1]);
    }
    expect(sample(logits, 3, { ...base, uniform: 0.05 }, [])).toBe(1);
    expect(sample(logits, 3, { ...base, uniform: 0.65 }, [])).toBe(2);
    expect(sample(logits, 3, { ...base, uniform: 0.95 }, [])).toBe(0);
  });

  it('sample filters: top-k, top-p, min-p, temperature, greedy, penalty', () => {
    const logits = [0.1, 0.4, 0.25, 0.15, 0.1].map(Math.log);
    const ids = (p: Partial<SamplingParams>) => {
      const d = sampleDistribution(logits, 5, { ...base, ...p }, [1, 1, 3]);
      return d.kind === 'random' ? d.ids : [d.token];
    };
    expect(ids({ topK: 2 })).toEqual([1, 2]);
    expect(ids({ topP: 0.6 })).toEqual([1, 2]); // 0.4, 0.65 >= 0.6
    expect(ids({ topP: 0.65 + 1e-9 })).toEqual([1, 2, 3]);
    expect(ids({ minP: 0.5 })).toEqual([1, 2]); // >= 0.2
    expect(ids({ temperature: 0 })).toEqual([1]);
    expect(ids({ temperature: 0, repetitionPenalty: 2, historyLength: 2 })).toEqual([2]); // id 1 (negative logit) * 2
    // ties: lower index first
    const t = sampleDistribution([1, 2, 2, 0], 4, base, []);
    expect(t.kind === 'random' && t.ids).toEqual([1, 2, 0, 3]);
    // the penalty applies once per distinct id; positive logits are divided
    const d = sampleDistribution([2, 1], 2, { ...base, temperature: 0, repetitionPenalty: 4, historyLength: 3 }, [0, 0, 0]);
    expect(d).toEqual({ kind: 'greedy', token: 1 }); // 2/4 = 0.5 < 1
  });
});
