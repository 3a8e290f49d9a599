import { describe, expect, it } from 'vitest';
import { InvalidProgramError, type SamplingParams } from '@bitexit/backend';
import { CpuBackend } from '../backend.js';
import { randomF32 } from '../testing/helpers.js';
import { createSampleScratch, sampleLogits } from './sample.js';

const defaults: SamplingParams = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, historyLength: 0, uniform: 0.5 };

function sample(logits: ArrayLike<number>, p: Partial<SamplingParams>, history: number[] = []): number {
  const l = Float32Array.from(logits);
  return sampleLogits(l, 0, l.length, Int32Array.from(history), { ...defaults, historyLength: history.length, ...p }, createSampleScratch(l.length));
}

/** Straightforward reference of the specified semantics (full sort, float64). */
function referenceSample(logits: Float32Array, p: SamplingParams, history: Int32Array): number {
  const l = Array.from(logits, (x) => (Number.isNaN(x) ? -Infinity : x));
  if (p.repetitionPenalty !== 1) {
    for (const id of new Set(Array.from(history.subarray(0, p.historyLength)))) {
      if (id >= 0 && id < l.length) l[id] = Math.fround(l[id] > 0 ? l[id] / p.repetitionPenalty : l[id] * p.repetitionPenalty);
    }
  }
  if (p.temperature <= 0) return l.indexOf(Math.max(...l));
  const s = l.map((x) => Math.fround(x / p.temperature));
  let c = s.map((_, i) => i).sort((a, b) => s[b] - s[a] || a - b);
  if (p.topK > 0) c = c.slice(0, p.topK);
  const m = s[c[0]];
  const e = c.map((i) => Math.exp(s[i] - m));
  const z = e.reduce((a, b) => a + b, 0);
  let probs = e.map((x) => x / z);
  if (p.topP < 1) {
    let cum = 0;
    let k = probs.length;
    for (let i = 0; i < probs.length; i++) {
      cum += probs[i];
      if (cum >= p.topP) {
        k = i + 1;
        break;
      }
    }
    probs = probs.slice(0, k);
  }
  if (p.minP > 0) probs = probs.filter((x, i) => i === 0 || x >= p.minP * probs[0]);
  const total = probs.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (let i = 0; i < probs.length; i++) {
    cum += probs[i] / total;
    if (cum > p.uniform) return c[i];
  }
  return c[probs.length - 1];
}

const logOf = (ps: number[]) => ps.map(Math.log);

describe('sample (kernel function)', () => {
  it('greedy when temperature <= 0: argmax, lowest index on ties, uniform ignored', () => {
    expect(sample([0.1, 2, 0.3], { temperature: 0 })).toBe(1);
    expect(sample([4, 1, 4], { temperature: 0, uniform: 0.99 })).toBe(0);
    expect(sample([1, 5, 5], { temperature: -1 })).toBe(1);
  });

  it('top-k 1 equals argmax for any uniform', () => {
    const l = randomF32(300, 5, 4);
    const best = Array.from(l).indexOf(Math.max(...l));
    for (const u of [0, 0.3, 0.999999]) expect(sample(l, { topK: 1, uniform: u, temperature: 0.7 })).toBe(best);
  });

  it('inverse CDF over the full distribution: a uniform grid reproduces the probabilities', () => {
    const ps = [0.5, 0.3, 0.15, 0.05];
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[sample(logOf(ps), { uniform: (i + 0.5) / 1000 })]++;
    expect(counts).toEqual([500, 300, 150, 50]);
  });

  it('candidates are ordered by logit (descending), not by index', () => {
    // probs 0.05 (id 0), 0.5 (id 1), 0.15 (id 2), 0.3 (id 3): sorted order 1, 3, 2, 0.
    const l = logOf([0.05, 0.5, 0.15, 0.3]);
    expect(sample(l, { uniform: 0.49 })).toBe(1);
    expect(sample(l, { uniform: 0.51 })).toBe(3);
    expect(sample(l, { uniform: 0.81 })).toBe(2);
    expect(sample(l, { uniform: 0.96 })).toBe(0);
  });

  it('top-p keeps the smallest prefix reaching topP, then renormalises', () => {
    const l = logOf([0.5, 0.3, 0.15, 0.05]);
    // topP 0.7: keeps {0.5, 0.3} → 0.625 / 0.375.
    expect(sample(l, { topP: 0.7, uniform: 0.62 })).toBe(0);
    expect(sample(l, { topP: 0.7, uniform: 0.63 })).toBe(1);
    expect(sample(l, { topP: 0.7, uniform: 0.999 })).toBe(1);
    // Exactly reaching topP stops the prefix: two equal logits are 0.5 each.
    expect(sample([0, 0], { topP: 0.5, uniform: 0.9 })).toBe(0);
    expect(sample([0, 0], { topP: 0.51, uniform: 0.9 })).toBe(1);
    // topP tiny: at least one candidate.
    expect(sample(l, { topP: 1e-9, uniform: 0.9 })).toBe(0);
  });

  it('min-p keeps p >= minP * pmax', () => {
    const l = logOf([0.5, 0.3, 0.15, 0.05]);
    // minP 0.25: threshold 0.125 keeps 0.5, 0.3, 0.15 (sum 0.95): cumulative 0.526, 0.842, 1.
    expect(sample(l, { minP: 0.25, uniform: 0.84 })).toBe(1);
    expect(sample(l, { minP: 0.25, uniform: 0.85 })).toBe(2);
    expect(sample(l, { minP: 0.25, uniform: 0.999 })).toBe(2);
    // minP 1 keeps the top candidate only.
    expect(sample(l, { minP: 1, uniform: 0.999 })).toBe(0);
  });

  it('ties keep the lower indices first (top-k heap and full sort)', () => {
    const flat = new Array(10).fill(0.5);
    expect(sample(flat, { topK: 3, uniform: 0 })).toBe(0);
    expect(sample(flat, { topK: 3, uniform: 0.99 })).toBe(2);
    expect(sample(flat, { uniform: 0.99 })).toBe(9);
    expect(sample(flat, { topP: 0.25, uniform: 0.99 })).toBe(2);
  });

  it('top-k then temperature scaling', () => {
    const l = logOf([0.4, 0.35, 0.25]);
    expect(sample(l, { topK: 2, uniform: 0.99 })).toBe(1);
    // High temperature flattens; low temperature sharpens to argmax.
    expect(sample(l, { temperature: 0.01, uniform: 0.99 })).toBe(0);
    expect(sample([0, 0, 0], { temperature: 5, uniform: 0.7 })).toBe(2);
  });

  it('repetition penalty: once per distinct id, divides positives, multiplies negatives, respects historyLength', () => {
    // Applied once: 3/2 = 1.5 > 1.2 → 0 stays best; applied twice would give 0.75.
    expect(sample([3, 1.2], { temperature: 0, repetitionPenalty: 2 }, [0, 0])).toBe(0);
    expect(sample([3, 1.2], { temperature: 0, repetitionPenalty: 3 }, [0])).toBe(1);
    // Negative logits are multiplied (pushed down).
    expect(sample([-0.5, -0.8], { temperature: 0, repetitionPenalty: 2 }, [0])).toBe(1);
    // Only the first historyLength ids count; out-of-vocab ids are ignored.
    expect(sample([3, 1.2], { temperature: 0, repetitionPenalty: 3, historyLength: 1 }, [7, 0])).toBe(0);
    expect(sample([3, 1.2], { temperature: 0, repetitionPenalty: 3, historyLength: 2 }, [-4, 0])).toBe(1);
    // penalty 1: untouched.
    expect(sample([3, 1.2], { temperature: 0, repetitionPenalty: 1 }, [0, 0, 0])).toBe(0);
  });

  it('NaN logits never get picked; all -Infinity falls back to the first', () => {
    expect(sample([NaN, 1, NaN], { uniform: 0.99 })).toBe(1);
    expect(sample([-Infinity, -Infinity], { uniform: 0.5 })).toBe(0);
  });

  it('matches the full-sort reference on random logits (heap top-k path and sort path)', () => {
    const V = 1000;
    for (let trial = 0; trial < 40; trial++) {
      const l = randomF32(V, 100 + trial, 6);
      if (trial % 3 === 0) for (let i = 0; i < V; i += 7) l[i] = l[3]; // plenty of ties
      const history = new Int32Array(Array.from({ length: 16 }, (_, i) => (i * 37 + trial) % V));
      const p: SamplingParams = {
        temperature: [0, 0.3, 1, 1.7][trial % 4],
        topK: [0, 1, 5, 40, 999, 1000, 5000][trial % 7],
        topP: [1, 0.9, 0.5][trial % 3],
        minP: [0, 0.05][trial % 2],
        repetitionPenalty: [1, 1.3][trial % 2],
        historyLength: 16,
        uniform: ((trial * 0.6180339887) % 1),
      };
      expect(sampleLogits(l, 0, V, history, p, createSampleScratch(V))).toBe(referenceSample(l, p, history));
    }
  });

  it('is deterministic and does not modify the logits or leave state behind', () => {
    const l = randomF32(64, 3, 3);
    const copy = l.slice();
    const scratch = createSampleScratch(64);
    const p = { ...defaults, repetitionPenalty: 1.5, historyLength: 3, topK: 10, uniform: 0.42 };
    const h = new Int32Array([1, 2, 2]);
    const first = sampleLogits(l, 0, 64, h, p, scratch);
    for (let i = 0; i < 5; i++) expect(sampleLogits(l, 0, 64, h, p, scratch)).toBe(first);
    expect(l).toEqual(copy);
  });
});

describe('sample (op)', () => {
  async function setup() {
    const be = new CpuBackend();
    const logits = be.createBuffer('f32', [1, 4], 'logits');
    const history = be.createBuffer('i32', [1, 8], 'history');
    const out = be.createBuffer('i32', [1, 1], 'tok');
    const prog = be.compile({ label: 's', maxRows: 1, ops: [{ kind: 'sample', logits, history, out }], outputs: [{ buffer: out, rows: 1 }] });
    return { be, logits, history, prog };
  }

  it('samples through a compiled program with history input', async () => {
    const { be, logits, history, prog } = await setup();
    be.writeBuffer(logits, new Float32Array([3, 1.2, 0, 0]));
    const [a] = await be.run(prog, { pos: 0, n: 1, sampling: { ...defaults, temperature: 0 } });
    expect([...a]).toEqual([0]);
    const [b] = await be.run(prog, {
      pos: 0,
      n: 1,
      inputs: [{ buffer: history, data: new Int32Array([0]) }],
      sampling: { ...defaults, temperature: 0, repetitionPenalty: 3, historyLength: 1 },
    });
    expect([...b]).toEqual([1]);
  });

  it('rejects a missing or malformed SamplingParams with InvalidProgramError', async () => {
    const { be, prog } = await setup();
    await expect(be.run(prog, { pos: 0, n: 1 })).rejects.toThrow(InvalidProgramError);
    for (const bad of [
      { uniform: 1 },
      { uniform: -0.1 },
      { topP: 0 },
      { topK: 1.5 },
      { minP: 2 },
      { repetitionPenalty: 0 },
      { historyLength: 9 },
      { temperature: NaN },
    ]) {
      await expect(be.run(prog, { pos: 0, n: 1, sampling: { ...defaults, ...bad } })).rejects.toThrow(InvalidProgramError);
    }
  });
});
