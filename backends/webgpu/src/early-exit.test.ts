// SpecEE through the engine on WebGPU: the exit programs (exit checks, guarded
// regions as gated indirect dispatches, exit records, the mask policy) give the
// same exit layers and logits as the CPU reference on stories260K.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '@bitexit/backend';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, type EarlyExitConfig, type Model } from '@bitexit/engine';
import { fixturePath } from '@bitexit/format/node';
import { createWebGpuBackend, webgpuBackendProvider } from './index.js';

const availability = await webgpuBackendProvider.probe();
const storiesPath = fixturePath('stories260K/stories260K.gguf');
const textPath = fixturePath('text/tinystories-dev.txt');
const reason = !availability.ok ? availability.reason : !storiesPath || !textPath ? 'stories260K fixture or dev text missing (../shared/fixtures)' : null;
if (reason) console.warn(`[backend-webgpu] early-exit engine tests skipped: ${reason}`);

const K = 4;

/** Predictors that always fire (the exit then happens exactly when the layer's argmax is drafted). */
function config(kvPolicy: 'mask' | 'propagate'): EarlyExitConfig {
  const predictors = new Map([1, 2, 3].map((l) => [l, { upW: new Float32Array(16 * 3 * K).fill(0.01), upB: new Float32Array(16), downW: new Float32Array(16), downB: 50 }]));
  return {
    predictors,
    k: K,
    threshold: 0.5,
    kvPolicy,
    // Drafts: the last K distinct tokens of the context (stories repeat words, so some drafts are right).
    drafter: {
      kind: 'recent',
      needsFeature: false,
      async propose(context: readonly number[], k: number) {
        const out: number[] = [];
        for (let i = context.length - 1; i >= 0 && out.length < k; i--) if (!out.includes(context[i]!)) out.push(context[i]!);
        while (out.length < k) out.push(out.length);
        return out;
      },
    },
    scheduler: { active: () => [0, 1, 2, 3], record() {} },
  };
}

describe.skipIf(reason !== null)('early exit through the engine (stories260K, WebGPU on both code paths vs CPU)', () => {
  const backends: Backend[] = [];
  const models: Model[] = [];
  let ids: number[];
  beforeAll(async () => {
    for (const be of [await createCpuBackend(), await createWebGpuBackend(), await createWebGpuBackend({ disableFeatures: ['shader-f16', 'subgroups'] })]) {
      backends.push(be);
      models.push(await loadModel(storiesPath!, { backend: be, contextLength: 256 }));
    }
    const text = readFileSync(textPath!, 'utf8').slice(0, 4000);
    ids = [models[0]!.tokenizer.bosId!, ...models[0]!.tokenizer.encode(text, { addBos: false }).slice(0, 48)];
  });
  afterAll(async () => {
    for (const m of models) await m.dispose();
    for (const b of backends) await b.dispose();
  });

  for (const kvPolicy of ['mask', 'propagate'] as const) {
    it(`same exit layers and logits as the CPU (${kvPolicy})`, async () => {
      const got = [];
      for (const m of models) {
        await m.enableEarlyExit(config(kvPolicy));
        got.push(await m.scoreWithEarlyExit(ids));
        await m.disableEarlyExit();
      }
      const [cpu, ...gpus] = got;
      const exits = cpu!.exitLayers.filter((l) => l < 4).length;
      expect(exits, 'test setup: some positions must exit').toBeGreaterThan(2);
      for (const gpu of gpus) {
        expect(gpu.exitLayers).toEqual(cpu!.exitLayers);
        for (let t = 1; t < ids.length; t++) {
          let maxDiff = 0;
          for (let i = 0; i < cpu!.logits[t]!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(gpu.logits[t]![i]! - cpu!.logits[t]![i]!));
          expect(maxDiff, `position ${t}`).toBeLessThan(1e-3);
        }
      }
      // Free-running greedy generation with exits: the same tokens.
      const tokens = [];
      for (const m of models) {
        await m.enableEarlyExit(config(kvPolicy));
        tokens.push((await m.generate(ids.slice(0, 20), { temperature: 0, maxTokens: 24 }).result).tokens);
        await m.disableEarlyExit();
      }
      expect(tokens[1]).toEqual(tokens[0]);
      expect(tokens[2]).toEqual(tokens[0]);
    });
  }
});
