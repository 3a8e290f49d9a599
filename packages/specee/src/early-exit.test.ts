// Exit-aware decoding end to end on the CPU backend (stories260K, 5 layers):
// the engine's exit programs, both KV policies, the scheduler and drafter glue.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import type { Backend } from '@bitexit/backend';
import { loadModel, openModel, type Model } from '@bitexit/engine';
import { ModelDrafter } from './drafters/model.js';
import { NgramDrafter } from './drafters/ngram.js';
import { createEarlyExit } from './early-exit.js';
import type { ExitsSpec } from './file.js';
import { ExitPredictor } from './predictor.js';
import { devTextPath, storiesPath } from './test-fixtures.js';

if (!storiesPath || !devTextPath) console.warn('[specee] early-exit decoding tests skipped: stories260K fixture or dev text missing (../shared/fixtures)');

/** Predictors that always (bias +50) or never (bias -50) fire, on the given layers. */
function fixedSpec(layers: number[], bias: number, k = 4): ExitsSpec {
  const predictors = new Map<number, ExitPredictor>();
  for (const l of layers) {
    const p = ExitPredictor.random(k, 7 + l, 16);
    p.downW.fill(0);
    p.downB = bias;
    predictors.set(l, p);
  }
  return { nLayers: 5, k, threshold: 0.5, predictors, offline: layers, online: { history: 0, spread: [] }, drafter: 'test' };
}

function argmax(v: Float32Array): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[b]!) b = i;
  return b;
}

describe.skipIf(!storiesPath || !devTextPath)('exit-aware decoding (stories260K, CPU)', () => {
  let backend: Backend;
  let model: Model;
  let truncated: Model;
  let ngram: NgramDrafter;
  let ids: number[];
  const prompt = 'Once upon a time, there was a little girl named Lily.';

  beforeAll(async () => {
    backend = await createCpuBackend();
    model = await loadModel(storiesPath!, { backend, contextLength: 256 });
    // The same weights cut after layer 2: what a model that always exits at layer 2 computes.
    const source = await openModel(storiesPath!);
    truncated = await loadModel({ ...source, config: { ...source.config, nLayers: 3 } }, { backend, contextLength: 256 });
    const text = readFileSync(devTextPath!, 'utf8').slice(0, 20000);
    const tokens = model.tokenizer.encode(text, { addBos: false });
    ngram = NgramDrafter.train([tokens.slice(2000)]);
    ids = [model.tokenizer.bosId!, ...tokens.slice(0, 60)];
  });
  afterAll(async () => {
    await model?.dispose();
    await truncated?.dispose();
    await backend?.dispose();
  });

  it('predictors that never fire change nothing: same greedy tokens, full depth on every step', async () => {
    const plain = await model.generate(prompt, { temperature: 0, maxTokens: 24 }).result;
    await model.enableEarlyExit(createEarlyExit(fixedSpec([0, 1, 2, 3], -50), ngram));
    const gen = await model.generate(prompt, { temperature: 0, maxTokens: 24 }).result;
    await model.disableEarlyExit();
    expect(gen.tokens).toEqual(plain.tokens);
    const st = gen.stats.earlyExit!;
    expect(st.steps).toBe(plain.tokens.length - 1);
    expect(st.layersFraction).toBe(1);
    expect(st.histogram).toEqual([0, 0, 0, 0, st.steps]);
  });

  for (const kvPolicy of ['mask', 'propagate'] as const) {
    it(`always exiting at layer 2 computes the 3-layer model exactly (${kvPolicy})`, async () => {
      const want = await truncated.logits(ids);
      // The drafter proposes the truncated model's top-4, so its argmax is always drafted.
      await model.enableEarlyExit(createEarlyExit(fixedSpec([2], 50), new ModelDrafter(truncated), { kvPolicy }));
      expect(model.earlyExit).toMatchObject({ kvPolicy, layers: [2], k: 4 });
      const got = await model.scoreWithEarlyExit(ids);
      expect(got.exitLayers).toEqual([4, ...new Array(ids.length - 1).fill(2)]);
      for (let t = 1; t < ids.length; t++) {
        let maxDiff = 0;
        for (let i = 0; i < want[t]!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.logits[t]![i]! - want[t]![i]!));
        expect(maxDiff, `position ${t}`).toBeLessThan(1e-4);
      }
      // Free-running greedy generation with exit = the truncated model's greedy generation.
      const gen = await model.generate(prompt, { temperature: 0, maxTokens: 16 }).result;
      await model.disableEarlyExit();
      const promptIds = model.tokenizer.encode(prompt, { addBos: true });
      const ref = await truncated.generate([...promptIds, gen.tokens[0]!], { temperature: 0, maxTokens: gen.tokens.length - 1 }).result;
      // The first token comes from the full-depth prefill; every later one exits at layer 2.
      expect(gen.tokens[0]).toBe(argmax((await model.logits(model.tokenizer.encode(prompt, { addBos: true }))).at(-1)!));
      expect(gen.stats.earlyExit!.histogram[2]).toBe(gen.tokens.length - 1);
      expect(gen.stats.earlyExit!.layersPerToken).toBe(3);
      expect(gen.tokens.slice(1)).toEqual(ref.tokens);
    });
  }

  it('mixed exits: the two KV policies differ, mask recompiles and restores the full-depth programs', async () => {
    const full = await model.logits(ids);
    const results: Record<string, { logits: Float32Array[]; exitLayers: number[] }> = {};
    // mask twice in a row: a new config replaces the old one (and its depth record) cleanly.
    await model.enableEarlyExit(createEarlyExit(fixedSpec([3], 50), ngram, { kvPolicy: 'mask' }));
    for (const kvPolicy of ['mask', 'propagate'] as const) {
      // The layer-2 predictor always fires; the exit happens only where layer 2's argmax is an n-gram draft.
      await model.enableEarlyExit(createEarlyExit(fixedSpec([2], 50), ngram, { kvPolicy }));
      results[kvPolicy] = await model.scoreWithEarlyExit(ids);
      await model.disableEarlyExit();
    }
    const m = results.mask!;
    const p = results.propagate!;
    // Layers 0-2 run at every position under both policies, so the exit decisions are the same…
    expect(m.exitLayers).toEqual(p.exitLayers);
    const exits = m.exitLayers.filter((l) => l === 2).length;
    expect(exits).toBeGreaterThan(2);
    expect(exits).toBeLessThan(ids.length - 1);
    // …but later full-depth positions see different K/V in layers 2-4.
    let differ = 0;
    for (let t = 1; t < ids.length; t++) if (m.exitLayers[t] === 4 && m.logits[t]!.some((v, i) => Math.abs(v - p.logits[t]![i]!) > 1e-4)) differ++;
    expect(differ).toBeGreaterThan(0);
    // Back to plain decoding: the same logits as before.
    const again = await model.logits(ids);
    expect(again[ids.length - 1]).toEqual(full[ids.length - 1]);
  });

  it('rejects configs that do not fit the model, with typed errors', async () => {
    await expect(model.enableEarlyExit(createEarlyExit(fixedSpec([7], 50), ngram))).rejects.toThrow(/layer 7/);
    await expect(model.enableEarlyExit({ ...createEarlyExit(fixedSpec([1], 50), ngram), k: 3 })).rejects.toThrow(/3k=9/);
    await expect(model.scoreWithEarlyExit(ids)).rejects.toThrow(/not enabled/);
  });
});
