import { describe, expect, it } from 'vitest';
import { MemoryByteSource, f16ToF32, f32ToF16 } from '@bitexit/format';
import { exitFeatures, loadReleasedPredictors, trainPredictor, type ExitSamples } from './predictor.js';
import { SpeceeFileError } from './errors.js';
import { Rng } from './math.js';
import { buildSafetensors, randomArray } from './test-helpers.js';

describe('exitFeatures', () => {
  it('is [logits, softmax over the k, change since the previous evaluated layer]', () => {
    const first = exitFeatures([2, 1, 0, -1], null);
    const e = [2, 1, 0, -1].map((v) => Math.exp(v));
    const s = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / s);
    expect(Array.from(first.features.slice(0, 4))).toEqual([2, 1, 0, -1]);
    first.features.slice(4, 8).forEach((v, i) => expect(v).toBeCloseTo(p[i]!, 6));
    first.features.slice(8).forEach((v, i) => expect(v).toBeCloseTo(p[i]!, 6)); // first layer: change = softmax
    const second = exitFeatures([0, 0, 0, 0], first.probs);
    second.features.slice(8).forEach((v, i) => expect(v).toBeCloseTo(0.25 - p[i]!, 6));
  });
});

function separable(n: number, seed: number): ExitSamples {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 12);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const logits = [0, 1, 2, 3].map(() => rng.normal() * 2);
    const { features } = exitFeatures(logits, null);
    x.set(features, i * 12);
    // Exit is right when the first draft dominates (softmax > 0.6).
    y[i] = features[4]! > 0.6 ? 1 : 0;
  }
  return { x, y, n, inputs: 12 };
}

describe('trainPredictor', () => {
  it('learns a separable exit rule (held-out precision and recall) and is deterministic for a seed', () => {
    const s = separable(1000, 3);
    const a = trainPredictor(s, { epochs: 10, seed: 7 });
    expect(a.heldOut.n).toBe(200);
    expect(a.heldOut.positives).toBeGreaterThan(20);
    expect(a.heldOut.precision).toBeGreaterThan(0.8);
    expect(a.heldOut.recall).toBeGreaterThan(0.8);
    const b = trainPredictor(s, { epochs: 10, seed: 7 });
    expect(Array.from(b.predictor.downW)).toEqual(Array.from(a.predictor.downW));
    const c = trainPredictor(s, { epochs: 10, seed: 8 });
    expect(Array.from(c.predictor.downW)).not.toEqual(Array.from(a.predictor.downW));
  });
});

describe('loadReleasedPredictors', () => {
  const rng = new Rng(1);
  const r = () => rng.next();
  const layer = (i: number, up = [512, 12]) => [
    { name: `model.layers.${i}.pred.up.weight`, dtype: 'F16' as const, shape: up, data: randomArray(up[0]! * up[1]!, r, 0.3) },
    { name: `model.layers.${i}.pred.up.bias`, dtype: 'F16' as const, shape: [512], data: randomArray(512, r, 0.3) },
    { name: `model.layers.${i}.pred.down.weight`, dtype: 'F16' as const, shape: [1, 512], data: randomArray(512, r, 0.3) },
    { name: `model.layers.${i}.pred.down.bias`, dtype: 'F16' as const, shape: [1], data: randomArray(1, r, 0.3) },
  ];

  it('reads the authors\' fp16 layout and computes the same output as a direct evaluation', async () => {
    const tensors = [...layer(3), ...layer(17)];
    const preds = await loadReleasedPredictors(new MemoryByteSource('pred.safetensors', buildSafetensors(tensors)));
    expect([...preds.keys()]).toEqual([3, 17]);
    const p = preds.get(17)!;
    expect(p.k).toBe(4);
    expect(p.hidden).toBe(512);
    // Reference: f16-rounded weights, ReLU MLP, sigmoid.
    const f16 = (v: Float32Array) => Float32Array.from(v, (x) => f16ToF32(f32ToF16(x)));
    const [up, upB, down, downB] = tensors.slice(4).map((t) => f16(t.data));
    const x = randomArray(12, r);
    let z = downB![0]!;
    for (let h = 0; h < 512; h++) {
      let a = upB![h]!;
      for (let i = 0; i < 12; i++) a += up![h * 12 + i]! * x[i]!;
      z += Math.max(0, a) * down![h]!;
    }
    expect(p.forward(x)).toBeCloseTo(1 / (1 + Math.exp(-z)), 5);
  });

  it('rejects files without predictors or with wrong shapes', async () => {
    const none = buildSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) }]);
    await expect(loadReleasedPredictors(new MemoryByteSource('x.safetensors', none))).rejects.toThrow(SpeceeFileError);
    const bad = buildSafetensors(layer(0, [512, 10]));
    await expect(loadReleasedPredictors(new MemoryByteSource('bad.safetensors', bad))).rejects.toThrow(/3k/);
    const missing = buildSafetensors(layer(0).slice(0, 3));
    await expect(loadReleasedPredictors(new MemoryByteSource('m.safetensors', missing))).rejects.toThrow(/down\.bias/);
  });
});

