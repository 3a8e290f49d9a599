// End-to-end: the shipped file (2.9-bit bx matrices + EAGLE head + SpecEE predictors), loaded by the
// bitexit engine on the CPU backend, against the PyTorch reference of the F16 model it was quantized from
// (tools/demo-model/sample.py): quantization may move logits a little, never the story.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '@bitexit/engine';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { enableEarlyExitFromFiles } from '@bitexit/specee/node';
import { demoExitsPath, demoModelPath } from './index.js';
import golden from './golden.json' with { type: 'json' };

/**
 * Held-out perplexity of the F16 model on eval/heldout-40k.txt (ctx 256, first 4 chunks), measured with
 * `bitexit eval ppl --ctx 256 --max-chunks 4` on the F16 export (10 chunks: 1.70865, shipped file 1.7173).
 */
const F16_HELDOUT_PPL = 1.73334;

function topK(v: Float32Array, k: number): number[] {
  return [...v.keys()].sort((a, b) => v[b]! - v[a]! || a - b).slice(0, k);
}

describe('demo model through the engine (CPU backend)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(demoModelPath(), { backend: await createCpuBackend() });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('loads as a 10-layer llama with the shipped context length, about 2.9 bits per matrix weight', () => {
    expect(model.info.contextLength).toBe(256);
    expect(model.config.nLayers).toBe(10);
  });

  it("keeps the F16 reference's next token on top after each prompt", async () => {
    for (const c of golden.cases) {
      const all = await model.logits(c.prompt_ids);
      const last = all[all.length - 1]!;
      const [refTop] = c.last_logits_top5[0]!;
      expect(topK(last, 1)[0], c.prompt).toBe(refTop);
    }
  });

  it('continues the prompts greedily like the reference at first', async () => {
    for (const c of golden.cases) {
      const n = 6;
      const { tokens } = await model.generate(c.prompt_ids, { temperature: 0, maxTokens: n }).result;
      expect(tokens.slice(0, n), c.prompt).toEqual(c.greedy_ids.slice(0, n));
    }
  });

  it('loses at most 1.5% held-out perplexity to the F16 model', async () => {
    const text = readFileSync(new URL('../eval/heldout-40k.txt', import.meta.url), 'utf8');
    const r = await model.perplexity(text, { ctx: 256, maxChunks: 4 });
    console.log(`[model-demo] held-out ppl ${r.ppl.toFixed(4)} (F16 ${F16_HELDOUT_PPL})`);
    expect(r.ppl).toBeLessThan(F16_HELDOUT_PPL * 1.015);
  }, 240_000);

  it('decodes with early exit from the shipped predictors and EAGLE head', async () => {
    const exit = await enableEarlyExitFromFiles(model, demoModelPath());
    try {
      expect(exit.from).toBe(demoExitsPath());
      expect(model.earlyExit).toMatchObject({ drafter: 'eagle', kvPolicy: 'propagate' });
      const r = await model.generate('Once upon a time', { temperature: 0, maxTokens: 48 }).result;
      const st = r.stats.earlyExit!;
      expect(st.steps).toBe(r.tokens.length - 1);
      expect(st.layersFraction).toBeGreaterThan(0.3);
      expect(st.layersFraction).toBeLessThan(1); // some tokens leave early
      expect(r.text).toMatch(/^, there was/);
    } finally {
      await model.disableEarlyExit();
      await exit.dispose();
    }
  });
});
