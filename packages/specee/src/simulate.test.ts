import { describe, expect, it } from 'vitest';
import { layerSamples, type Trace } from './collect.js';
import { ExitPredictor } from './predictor.js';
import { ExitScheduler } from './schedule.js';
import { simulateExits } from './simulate.js';

/** A predictor with constant output sigmoid(bias). */
const constant = (bias: number) => new ExitPredictor(new Float32Array(2 * 12), new Float32Array(2), new Float32Array(2), bias);

/** 4 layers, k = 4; per row: drafts, argmax per layer, and logprob per layer. */
function trace(rows: { drafts: number[]; argmax: number[]; logprob?: number[] }[]): Trace {
  const L = 4;
  const k = 4;
  const t: Trace = {
    nLayers: L,
    k,
    vocabSize: 100,
    dim: 8,
    rows: rows.length,
    target: new Int32Array(rows.length),
    drafts: new Int32Array(rows.length * k).fill(-1),
    draftLogits: new Float32Array(rows.length * L * k),
    argmax: new Int32Array(rows.length * L),
    logprob: new Float32Array(rows.length * L),
    chunkStart: new Uint8Array(rows.length),
  };
  rows.forEach((r, i) => {
    r.drafts.forEach((d, j) => (t.drafts[i * k + j] = d));
    r.argmax.forEach((a, l) => (t.argmax[i * L + l] = a));
    (r.logprob ?? [-1, -1, -1, -1]).forEach((p, l) => (t.logprob[i * L + l] = p));
  });
  return t;
}

describe('simulateExits', () => {
  it('exits at the first active layer whose predictor fires and whose argmax is a draft', () => {
    const tr = trace([
      // Layer 0 fires but its argmax 50 is not a draft; layer 1 fires with argmax 11 (a draft, = final).
      { drafts: [10, 11, 12, 13], argmax: [50, 11, 11, 11], logprob: [-5, -2, -1.5, -1] },
      // Exits at layer 0 on a draft that differs from the final argmax: disagreement.
      { drafts: [20, 21, 22, 23], argmax: [21, 22, 22, 22], logprob: [-3, -2, -2, -2] },
      // Fewer than k drafts: full depth.
      { drafts: [30, 31], argmax: [30, 30, 30, 30] },
    ]);
    const preds = new Map([0, 1, 2].map((l) => [l, constant(5)]));
    const r = simulateExits(tr, preds, { offline: [0, 1, 2], onlineScheduling: false });
    expect(Array.from(r.exits)).toEqual([1, 0, 3]);
    expect(r.histogram).toEqual([1, 1, 0, 1]);
    expect(r.layersMean).toBeCloseTo((2 + 1 + 4) / 3, 10);
    expect(r.layersFraction).toBeCloseTo(7 / 12, 10);
    expect(r.agreement).toBeCloseTo(2 / 3, 10);
    expect(r.pplFull).toBeCloseTo(Math.exp((1 + 2 + 1) / 3), 10);
    expect(r.pplExit).toBeCloseTo(Math.exp((2 + 3 + 1) / 3), 10);
    expect(r.draftedTokens).toBe(2);
    expect(r.lmHeadCallsPerToken).toBeCloseTo(3 / 3, 10);
  });

  it('runs full depth when no predictor exceeds the threshold, and skips inactive layers', () => {
    const tr = trace([{ drafts: [1, 2, 3, 4], argmax: [1, 1, 1, 1] }]);
    const preds = new Map([0, 1, 2].map((l) => [l, constant(0.5)])); // sigmoid(0.5) ≈ 0.62
    expect(simulateExits(tr, preds, { offline: [0, 1, 2], threshold: 0.7, onlineScheduling: false }).exits[0]).toBe(3);
    expect(simulateExits(tr, preds, { offline: [0, 1, 2], threshold: 0.5, onlineScheduling: false }).exits[0]).toBe(0);
    expect(simulateExits(tr, preds, { offline: [2], threshold: 0.5, onlineScheduling: false }).exits[0]).toBe(2);
  });

  it('online scheduling activates layers around recent exits, and the history carries over', () => {
    const rows = Array.from({ length: 3 }, () => ({ drafts: [1, 2, 3, 4], argmax: [1, 1, 1, 1] }));
    const preds = new Map([0, 1, 2].map((l) => [l, constant(5)]));
    const sched = new ExitScheduler(4, [2]);
    // Token 1: only layer 2 active → exit 2; then 0 (=2−2) becomes active → exit 0; then stays at 0.
    const r = simulateExits(trace(rows), preds, { offline: [2], scheduler: sched });
    expect(Array.from(r.exits)).toEqual([2, 0, 0]);
    expect(sched.history).toEqual([2, 0, 0]);
    const again = simulateExits(trace(rows.slice(0, 1)), preds, { offline: [2], scheduler: sched });
    expect(again.exits[0]).toBe(0);
  });
});

describe('layerSamples', () => {
  it('labels layer i by (argmax at i == final argmax), softmax change against layer i−1, and can keep only rows whose argmax is a draft', () => {
    const tr = trace([
      { drafts: [1, 2, 3, 4], argmax: [2, 1, 1, 1] },
      { drafts: [1, 2, 3, 4], argmax: [9, 1, 1, 1] },
      { drafts: [1, 2, 3, 4], argmax: [1, 1, 1, 1] },
      { drafts: [1, 2], argmax: [1, 1, 1, 1] },
    ]);
    tr.draftLogits.set([1, 0, 0, 0], (0 * 4 + 0) * 4);
    tr.draftLogits.set([3, 0, 0, 0], (0 * 4 + 1) * 4);
    const all = layerSamples(tr, 1);
    expect(all.n).toBe(3);
    expect(Array.from(all.y)).toEqual([1, 1, 1]);
    const l0 = layerSamples(tr, 0);
    expect(Array.from(l0.y)).toEqual([0, 0, 1]);
    // Row 0 at layer 1: logits [3,0,0,0]; change = softmax([3,0,0,0]) − softmax([1,0,0,0]).
    const p3 = Math.exp(3) / (Math.exp(3) + 3);
    const p1 = Math.exp(1) / (Math.exp(1) + 3);
    expect(all.x[0]).toBe(3);
    expect(all.x[4]).toBeCloseTo(p3, 6);
    expect(all.x[8]).toBeCloseTo(p3 - p1, 6);
    const gated = layerSamples(tr, 0, 'argmax-in-drafts');
    expect(gated.n).toBe(2); // row 1's layer-0 argmax (9) is not a draft
    expect(Array.from(gated.y)).toEqual([0, 1]);
  });
});
